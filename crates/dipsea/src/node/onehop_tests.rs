//! The one-hop overlay between sans-I/O nodes on a little virtual network: joins,
//! convergence, owners, forged and refuted membership events, failure detection.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use rand::SeedableRng;

use crate::id::Id;
use crate::id::NodeInfo;
use crate::keyspace::Scheme;
use crate::node::network::stamp;
use crate::node::test_support::addr;
use crate::node::{Event, NetworkId, Node, NodeConfig, OpId, Outcome, Output, Request};
use crate::onehop::{member_id, JoinProof, MemberEvent, OneHopConfig, Overlay};
use crate::push::{AcceptPolicy, Broadcast, KeyRange, SigningKey};
use crate::time::Time;
use crate::wire::push::BroadcastQuery;
use crate::wire::{CompactNodes, Message, MessageKind, Response};

fn net() -> NetworkId {
    NetworkId::from_name("onehop-test").expect("a name")
}

fn config(bootstrap: Vec<SocketAddr>) -> NodeConfig {
    let mut config = NodeConfig {
        bootstrap,
        network: Some(net()),
        overlay: Overlay::OneHop(OneHopConfig {
            partitioner: Scheme::Rendezvous,
            replicas: 3,
            probe_interval: Duration::from_millis(50),
            anti_entropy_interval: Duration::from_millis(500),
            ..OneHopConfig::default()
        }),
        ..NodeConfig::default()
    };
    config.broadcast.accept = AcceptPolicy::Open;
    config.rate_limit.enabled = false;
    config
}

/// Nodes on addresses 1000, 1001, ...; the first is the seed the others join.
struct Net {
    nodes: Vec<Node>,
    down: HashSet<usize>,
    queue: VecDeque<(SocketAddr, SocketAddr, Vec<u8>)>,
    now: Time,
    done: Vec<(usize, OpId, crate::node::OpResult)>,
    /// Drops the datagrams to a node (its index) that it says true of.
    drop: Option<DropFilter>,
}

type DropFilter = Box<dyn FnMut(usize, &[u8]) -> bool>;

impl Net {
    fn new(n: usize) -> Net {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let nodes = (0..n)
            .map(|i| {
                let boot = if i == 0 { vec![] } else { vec![addr(1000)] };
                let node = Node::with_rng(Id::ZERO, config(boot), Time::ZERO, &mut rng);
                node.set_member_addr(addr(1000 + i as u16));
                node
            })
            .collect();
        Net {
            nodes,
            down: HashSet::new(),
            queue: VecDeque::new(),
            now: Time::ZERO,
            done: Vec::new(),
            drop: None,
        }
    }

    fn index(&self, a: SocketAddr) -> Option<usize> {
        let i = usize::from(a.port().checked_sub(1000)?);
        (i < self.nodes.len()).then_some(i)
    }

    fn take(&mut self, from: usize, out: &mut Output) {
        let (datagrams, events) = out.take();
        for (to, d) in datagrams {
            self.queue.push_back((addr(1000 + from as u16), to, d));
        }
        for e in events {
            if let Event::Done { op, result } = e {
                self.done.push((from, op, result));
            }
        }
    }

    /// Runs for `span` of virtual time, 1 ms steps: deliver, then tick.
    fn run(&mut self, span: Duration) {
        let end = self.now + span;
        let mut out = Output::new();
        while self.now < end {
            while let Some((from, to, d)) = self.queue.pop_front() {
                let Some(i) = self.index(to) else { continue };
                let sender = self.index(from);
                if self.down.contains(&i) || sender.is_some_and(|s| self.down.contains(&s)) {
                    continue;
                }
                if self.drop.as_mut().is_some_and(|drop| drop(i, &d)) {
                    continue;
                }
                self.nodes[i].handle_datagram(from, &d, self.now, &mut out);
                self.take(i, &mut out);
            }
            for i in 0..self.nodes.len() {
                if !self.down.contains(&i) && self.nodes[i].next_deadline() <= self.now {
                    self.nodes[i].tick(self.now, &mut out);
                    self.take(i, &mut out);
                }
            }
            self.now += Duration::from_millis(1);
        }
    }

    fn start(&mut self, i: usize, request: Request) -> OpId {
        let mut out = Output::new();
        let op = self.nodes[i].next_op_id();
        self.nodes[i].start(op, request, self.now, &mut out);
        self.take(i, &mut out);
        op
    }

    fn result(&mut self, i: usize, op: OpId) -> crate::node::OpResult {
        for _ in 0..5_000 {
            if let Some(at) = self.done.iter().position(|(n, o, _)| *n == i && *o == op) {
                return self.done.remove(at).2;
            }
            self.run(Duration::from_millis(1));
        }
        panic!("operation {op:?} of node {i} never ended");
    }

    fn live(&self) -> impl Iterator<Item = &Node> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.down.contains(i))
            .map(|(_, n)| n)
    }
}

/// A `dipsea_bcast` datagram carrying `event`, signed by `key`, tagged for the test network.
fn event_datagram(key: &SigningKey, seq: i64, event: MemberEvent, sender: Id) -> Vec<u8> {
    let b = Broadcast::sign(key, seq, KeyRange::ALL, &event.encode()).expect("small");
    let mut buf = Vec::new();
    BroadcastQuery {
        tid: b"bc",
        version: Some(&crate::node::CLIENT_VERSION),
        id: sender,
        args: b.args(KeyRange::ALL.height()),
    }
    .encode(&mut buf);
    stamp(&mut buf, 0, Some(&net()));
    buf
}

/// The answer from `from` to the member list query that `node` sends it now,
/// listing `page` (IPv4) with `proofs` (their bytes as they should go).
fn member_page_answer(node: &Node, from: SocketAddr, page: &[NodeInfo], proofs: Option<&[u8]>) {
    let now = Time::from_millis(10_000);
    let mut out = Output::new();
    node.members_query(from, None, None, super::Purpose::Pull(0), now, &mut out);
    let (sent, _) = out.take();
    let tid = crate::wire::decode(&sent[0].1)
        .expect("a query")
        .tid
        .to_vec();
    let mut nodes = Vec::new();
    crate::wire::write_compact_nodes(page, &mut nodes, &mut Vec::new());
    let mut response = Response::new(Id::sha1(b"mallory"));
    response.nodes = CompactNodes::v4(&nodes).ok();
    response.proofs = proofs;
    let reply = Message {
        tid: &tid,
        version: Some(&crate::node::CLIENT_VERSION),
        ip: None,
        read_only: false,
        network: None,
        kind: MessageKind::Response(response),
    };
    let mut buf = Vec::new();
    reply.encode(&mut buf);
    stamp(&mut buf, 0, Some(&net()));
    node.handle_datagram(from, &buf, now, &mut out);
}

fn proofs_bytes(proofs: &[JoinProof]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in proofs {
        p.write(&mut out);
    }
    out
}

fn key_and_id(seed: u8) -> (SigningKey, Id) {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let id = member_id(&key.verifying_key().to_bytes());
    (key, id)
}

#[test]
fn listed_members_are_taken_only_with_their_own_signed_join() {
    let mut net = Net::new(3);
    net.run(Duration::from_secs(3));
    let node = &net.nodes[1];
    let victim = NodeInfo::new(net.nodes[2].id(), addr(1002));
    let (alice, alice_id) = key_and_id(21);
    let (bob, bob_id) = key_and_id(22);
    let (mallory, _) = key_and_id(23);
    let page = [
        // Alice's own join: taken.
        NodeInfo::new(alice_id, addr(5001)),
        // A member moved to Mallory's address, "proved" by Mallory's key: refused.
        NodeInfo::new(victim.id, addr(6000)),
        // Bob signed a join at another address: refused.
        NodeInfo::new(bob_id, addr(5003)),
    ];
    let proofs = [
        JoinProof::sign(&alice, 1, addr(5001)),
        JoinProof::sign(&mallory, 1, addr(6000)),
        JoinProof::sign(&bob, 1, addr(5002)),
    ];
    let forged = node.stats().members_forged;
    member_page_answer(node, addr(6000), &page, Some(&proofs_bytes(&proofs)));
    let members = node.members();
    assert!(members.contains(&alice_id));
    assert!(!members.contains(&bob_id));
    let held = |id: &Id| {
        node.onehop()
            .and_then(|o| o.members.read().get(id).map(|m| m.addr))
    };
    assert_eq!(held(&victim.id), Some(victim.addr), "not moved");
    assert_eq!(node.stats().members_forged, forged + 2);
    // A page without proofs: every entry it adds is refused.
    let (_, carol_id) = key_and_id(24);
    member_page_answer(
        node,
        addr(6000),
        &[NodeInfo::new(carol_id, addr(5004))],
        None,
    );
    assert!(!node.members().contains(&carol_id));
    assert_eq!(node.stats().members_forged, forged + 3);
    // What this node lists now carries Alice's proof, which a third node takes.
    let (page, proofs) = node.proven_page(node.onehop().expect("one-hop"), None);
    let at = page.iter().position(|m| m.id == alice_id).expect("listed");
    assert!(proofs[at].proves(&alice_id, addr(5001)));
    assert_eq!(page.len(), proofs.len());
}

#[test]
fn anti_entropy_pulls_only_the_id_range_that_differs() {
    let mut net = Net::new(24);
    net.run(Duration::from_secs(5));
    // Node 1 alone drops a live member: its digest differs from everyone's in that
    // member's id range only.
    let id = net.nodes[5].id();
    let o = net.nodes[1].onehop().expect("one-hop");
    assert!(o.members.write().remove(&id, net.now));
    let range = crate::onehop::range_of(&id);
    let cursors: std::rc::Rc<std::cell::RefCell<Vec<Option<Id>>>> = Default::default();
    let seen = cursors.clone();
    net.drop = Some(Box::new(move |_, d: &[u8]| {
        if let Ok(m) = crate::wire::decode(d) {
            if let crate::wire::MessageKind::Query(q) = m.kind {
                if let crate::wire::QueryMethod::Unknown { method, target } = q.method {
                    if method == crate::onehop::MEMBERS_METHOD {
                        seen.borrow_mut().push(target);
                    }
                }
            }
        }
        false
    }));
    net.run(Duration::from_secs(3));
    let cursors = cursors.borrow();
    assert!(!cursors.is_empty(), "some digest differed and was pulled");
    for cursor in cursors.iter() {
        let in_range = *cursor == crate::onehop::range_cursor(range)
            || cursor.is_some_and(|c| crate::onehop::range_of(&c) == range);
        assert!(in_range, "a pull outside range {range}: {cursor:?}");
    }
    // Node 1 took it back from a list (after its ping was answered).
    assert!(net.nodes.iter().all(|n| n.members().contains(&id)));
}

/// The cursors of the member list queries node `from` sends while `net` runs for
/// `span`.
fn list_cursors_of(net: &mut Net, from: Id, span: Duration) -> Vec<Option<Id>> {
    let cursors: std::rc::Rc<std::cell::RefCell<Vec<Option<Id>>>> = Default::default();
    let seen = cursors.clone();
    net.drop = Some(Box::new(move |_, d: &[u8]| {
        let Ok(m) = crate::wire::decode(d) else {
            return false;
        };
        if let MessageKind::Query(q) = m.kind {
            if let crate::wire::QueryMethod::Unknown { method, target } = q.method {
                if q.id == from && method == crate::onehop::MEMBERS_METHOD {
                    seen.borrow_mut().push(target);
                }
            }
        }
        false
    }));
    net.run(span);
    net.drop = None;
    let cursors = cursors.borrow().clone();
    cursors
}

#[test]
fn a_joiner_reads_a_long_list_a_range_at_a_time_and_a_short_one_in_one_chain() {
    for (n, long) in [(80, true), (12, false)] {
        let mut net = Net::new(n);
        let joiner = n - 1;
        net.down.insert(joiner);
        net.run(Duration::from_secs(5));
        net.down.remove(&joiner);
        let id = net.nodes[joiner].id();
        let cursors = list_cursors_of(&mut net, id, Duration::from_secs(3));
        assert_eq!(net.nodes[joiner].members().len(), n, "{n} members");
        let ranges: HashSet<usize> = cursors
            .iter()
            .map(|c| c.map_or(0, |c| crate::onehop::range_of(&c)))
            .collect();
        if long {
            // 80 members are 8 pages: read by 16 chains of about one page each.
            assert!(ranges.len() >= 12, "{cursors:?}");
            assert!(cursors.len() <= 24, "{} queries", cursors.len());
        } else {
            // 12 members are 2 pages, read one after the other.
            assert_eq!(cursors.len(), 2, "{cursors:?}");
        }
    }
}

/// `n` members of id range `r`, in id order.
fn members_in_range(r: u8, n: usize) -> Vec<NodeInfo> {
    let mut ids: Vec<Id> = (0u16..)
        .map(|i| Id::sha1(&i.to_be_bytes()))
        .filter(|id| crate::onehop::range_of(id) == usize::from(r))
        .take(n)
        .collect();
    ids.sort();
    ids.into_iter()
        .map(|id| NodeInfo::new(id, addr(7000)))
        .collect()
}

#[test]
fn a_page_reads_the_ranges_it_covers_and_a_chain_stops_where_another_reads() {
    use super::{Pull, ReadStep};
    let page = crate::onehop::PAGE;
    // A join's first page, full and still in range 0, of a long list: the chain goes
    // on in range 0 and every other range gets a chain of its own.
    let mut join = Pull {
        todo: u16::MAX,
        started: 1,
        ..Pull::default()
    };
    let first = members_in_range(0, page);
    let ReadStep {
        next,
        fan_out,
        finished,
    } = join.on_page(0, &first, true, Some(500));
    assert_eq!(next, Some(first[page - 1].id));
    assert_eq!(fan_out, !1u16);
    assert!(!finished);
    // A full page of range 2 that ends in range 3: range 2 is read, and range 3's own
    // chain reads on, so this one stops.
    let mut spill = members_in_range(2, page - 1);
    spill.extend(members_in_range(3, 1));
    let step = join.on_page(2, &spill, true, Some(500));
    assert_eq!((step.next, step.fan_out), (None, 0));
    assert_eq!(join.done, 1 << 2);
    // A short page ends every range from its own on.
    let step = join.on_page(5, &members_in_range(5, 3), true, Some(500));
    assert_eq!(join.done, (u16::MAX << 5) | (1 << 2));
    assert!(!step.finished, "ranges 0, 1, 3 and 4 are still read");
    // A pull reads only its ranges: a page running into a range that agrees stops.
    let mut pull = Pull {
        todo: 1 << 6,
        started: 1 << 6,
        ..Pull::default()
    };
    let mut spill = members_in_range(6, page - 2);
    spill.extend(members_in_range(7, 2));
    let step = pull.on_page(6, &spill, false, None);
    assert_eq!(step.next, None);
    assert!(step.finished);
    assert_eq!(pull.listed.len(), page);
}

#[test]
fn a_full_member_page_with_its_proofs_fits_a_1500_byte_path() {
    for v6 in [false, true] {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let node = Node::with_rng(Id::ZERO, config(vec![]), Time::ZERO, &mut rng);
        let at = |i: u16| -> SocketAddr {
            if v6 {
                let ip = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0xffff, i);
                SocketAddr::new(ip.into(), 6881)
            } else {
                addr(2000 + i)
            }
        };
        node.set_member_addr(at(0));
        let o = node.onehop().expect("one-hop");
        for i in 1..40u8 {
            let (key, id) = key_and_id(100 + i);
            let proof = JoinProof::sign(&key, 1, at(u16::from(i)));
            o.members
                .write()
                .insert(id, at(u16::from(i)), Time::ZERO)
                .expect("new");
            o.proofs.lock().insert(id, (at(u16::from(i)), proof));
        }
        // A members query from the farthest address there is, with a cursor.
        let mut query = Vec::new();
        Message {
            tid: b"\xff\xff\xff\xff",
            version: Some(&crate::node::CLIENT_VERSION),
            ..Message::query(
                b"\xff\xff\xff\xff",
                Id::sha1(b"asker"),
                crate::wire::QueryMethod::Unknown {
                    method: crate::onehop::MEMBERS_METHOD,
                    target: Some(Id::ZERO),
                },
            )
        }
        .encode(&mut query);
        stamp(&mut query, 0, Some(&net()));
        let mut out = Output::new();
        node.handle_datagram(at(9999), &query, Time::ZERO, &mut out);
        let (sent, _) = out.take();
        let answer = &sent.last().expect("an answer").1;
        let listed = crate::wire::decode(answer).map(|m| match m.kind {
            MessageKind::Response(r) => r.proofs.map_or(0, |p| p.len() / crate::onehop::PROOF_LEN),
            _ => 0,
        });
        assert_eq!(listed, Ok(crate::onehop::PAGE), "a full page");
        // IPv6 adds 40 bytes of IP header and 8 of UDP; IPv4 28.
        let headers = if v6 { 48 } else { 28 };
        println!("v6 {v6}: a full page answer of {} bytes", answer.len());
        assert!(
            answer.len() + headers <= 1_500,
            "v6 {v6}: {} bytes",
            answer.len()
        );
    }
}

#[test]
fn a_listed_member_whose_key_the_accept_policy_refuses_is_not_taken() {
    let (alice, alice_id) = key_and_id(31);
    let (carol, carol_id) = key_and_id(32);
    let mut config = config(vec![]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let allowed = [alice.verifying_key().to_bytes()];
    config.broadcast.accept = AcceptPolicy::Allowed(allowed.into_iter().collect());
    let node = Node::with_rng(Id::ZERO, config, Time::ZERO, &mut rng);
    node.set_member_addr(addr(1000));
    let o = node.onehop().expect("one-hop");
    let page = [
        NodeInfo::new(alice_id, addr(5001)),
        NodeInfo::new(carol_id, addr(5002)),
    ];
    let proofs = proofs_bytes(&[
        JoinProof::sign(&alice, 1, addr(5001)),
        JoinProof::sign(&carol, 1, addr(5002)),
    ]);
    let proven = node.proven_entries(o, &page, Some(&proofs));
    assert_eq!(proven, vec![page[0]]);
    assert_eq!(node.stats().members_forged, 1);
}

#[test]
fn members_converge_and_a_get_takes_one_round_trip() {
    let mut net = Net::new(12);
    net.run(Duration::from_secs(5));
    let all: Vec<Id> = {
        let mut ids: Vec<Id> = net.nodes.iter().map(Node::id).collect();
        ids.sort();
        ids
    };
    for node in &net.nodes {
        assert_eq!(node.members(), all, "every node knows every member");
        assert_eq!(node.member_digest(), net.nodes[0].member_digest());
        assert_eq!(node.stats().members, 12);
    }
    // A node's id is SHA-1 of its member key, so its joins are its own.
    let put = net.start(3, Request::Put(b"5:hello".to_vec()));
    let stored = net.result(3, put);
    let Ok(Outcome::Stored { key, stored }) = stored.outcome else {
        panic!("put failed: {:?}", stored.outcome)
    };
    assert_eq!(stored, 3, "on the three owners");
    let owners = net.nodes[7].owners(&key).expect("owners");
    let mut holders: Vec<Id> = net
        .nodes
        .iter()
        .filter(|n| n.store().get_immutable(&key, net.now).is_some())
        .map(Node::id)
        .collect();
    holders.sort();
    let mut expected: Vec<Id> = owners.iter().map(|o| o.id).collect();
    expected.sort();
    assert_eq!(holders, expected, "stored exactly on the owners");
    let asker = (0..12)
        .find(|i| !expected.contains(&net.nodes[*i].id()))
        .expect("a non-owner");
    let get = net.start(asker, Request::Get(key));
    let got = net.result(asker, get);
    assert_eq!(got.outcome, Ok(Outcome::Value(Some(b"5:hello".to_vec()))));
    assert_eq!(got.lookup.rounds, 1, "one round trip");
    assert_eq!(got.lookup.queries, 1, "only the primary owner is asked");
    // A first put from the asker fetches the owners' tokens; the next put to the same
    // owners skips that round trip.
    let first = net.start(asker, Request::Put(b"5:hello".to_vec()));
    let first = net.result(asker, first);
    assert_eq!(first.lookup.queries, 3, "the owners' tokens fetched once");
    let again = net.start(asker, Request::Put(b"5:hello".to_vec()));
    let again = net.result(asker, again);
    assert!(
        matches!(again.outcome, Ok(Outcome::Stored { stored: 3, .. })),
        "{:?}",
        again.outcome
    );
    assert_eq!(again.lookup.queries, 0, "no token round trip");
    assert_eq!(again.sent, 3, "one store query per owner");
}

#[test]
fn a_mutable_put_with_its_seq_is_one_round_trip_once_tokens_are_cached() {
    use crate::keypair::Keypair;
    use crate::node::ops::MutablePut;
    let mut net = Net::new(12);
    net.run(Duration::from_secs(4));
    let keypair = Keypair::from_seed(&[3; 32]);
    let put = |seq: Option<i64>| Request::PutMutable {
        keypair: Box::new(keypair.clone()),
        v: b"5:hello".to_vec(),
        options: MutablePut {
            salt: Vec::new(),
            seq,
            cas: None,
        },
    };
    let first = net.start(1, put(Some(1)));
    let first = net.result(1, first);
    assert_eq!(first.lookup.queries, 3, "the owners' tokens fetched once");
    let again = net.start(1, put(Some(2)));
    let again = net.result(1, again);
    let Ok(Outcome::StoredMutable(stored)) = again.outcome else {
        panic!("{:?}", again.outcome)
    };
    assert_eq!((stored.seq, stored.stored), (2, 3));
    assert_eq!(again.lookup.queries, 0, "no token round trip");
    assert_eq!(again.sent, 3, "one store query per owner");
    // Without a seq the owners' current version is read first.
    let auto = net.start(1, put(None));
    let auto = net.result(1, auto);
    let Ok(Outcome::StoredMutable(stored)) = auto.outcome else {
        panic!("{:?}", auto.outcome)
    };
    assert_eq!(stored.seq, 3, "one more than the owners' 2");
    assert_eq!(auto.lookup.queries, 3, "the owners asked for their version");
}

#[test]
fn a_dead_member_is_removed_everywhere_and_its_keys_are_still_found() {
    let mut net = Net::new(8);
    net.run(Duration::from_secs(4));
    let put = net.start(2, Request::Put(b"4:kept".to_vec()));
    let Ok(Outcome::Stored { key, .. }) = net.result(2, put).outcome else {
        panic!("put failed")
    };
    let owner = net.nodes[0].owners(&key).expect("owners")[0].id;
    let dead = (0..8)
        .find(|i| net.nodes[*i].id() == owner)
        .expect("the owner");
    net.down.insert(dead);
    net.run(Duration::from_secs(10));
    for node in net.live() {
        assert!(!node.members().contains(&owner), "the dead owner is gone");
        assert_eq!(node.members().len(), 7);
    }
    let detected: u64 = net.live().map(|n| n.stats().members_detected).sum();
    assert!(detected >= 1, "someone found it dead");
    let asker = (0..8).find(|i| *i != dead).expect("a live node");
    let get = net.start(asker, Request::Get(key));
    assert_eq!(
        net.result(asker, get).outcome,
        Ok(Outcome::Value(Some(b"4:kept".to_vec()))),
        "a surviving owner still has it"
    );
}

/// Four members and a fifth that joins later, with an item put before it joins
/// that it owns once it has (rendezvous, 3 replicas): its first owners hand it over.
fn a_joiner_owed_an_item(drop: DropFilter) -> (Net, Id) {
    let mut net = Net::new(5);
    net.down.insert(4);
    net.run(Duration::from_secs(4));
    let ids: Vec<Id> = net.nodes.iter().map(Node::id).collect();
    let mut after = Scheme::Rendezvous.build().expect("a partitioner");
    after.add_all(&ids).expect("distinct ids");
    let value = (0..)
        .map(|i: u32| {
            let s = format!("owed {i}");
            format!("{}:{s}", s.len()).into_bytes()
        })
        .find(|v| {
            after
                .owners(&Id::sha1(v), 3)
                .expect("owners")
                .contains(&ids[4])
        })
        .expect("some value the joiner owns");
    let put = net.start(0, Request::Put(value.clone()));
    let Ok(Outcome::Stored { key, stored, .. }) = net.result(0, put).outcome else {
        panic!("put failed")
    };
    assert_eq!(stored, 3);
    net.drop = Some(drop);
    net.down.remove(&4);
    net.run(Duration::from_secs(8));
    (net, key)
}

/// Whether `d` is a `put` query.
fn is_put(d: &[u8]) -> bool {
    crate::wire::decode(d).is_ok_and(|m| {
        matches!(m.kind, crate::wire::MessageKind::Query(q) if matches!(q.method, crate::wire::QueryMethod::Put(_)))
    })
}

#[test]
fn a_hand_off_put_that_goes_unanswered_is_sent_again() {
    // Every try of the first hand-off put to the joiner is lost; later puts pass.
    let mut first = None;
    let drop = Box::new(move |to: usize, d: &[u8]| {
        if to != 4 || !is_put(d) {
            return false;
        }
        let tid = crate::wire::decode(d).expect("a put").tid.to_vec();
        first.get_or_insert_with(|| tid.clone()) == &tid
    });
    let (net, key) = a_joiner_owed_an_item(drop);
    let joiner = &net.nodes[4];
    assert!(
        joiner.store.get_immutable(&key, net.now).is_some(),
        "the joiner holds it"
    );
    let stats: Vec<_> = net.nodes.iter().map(Node::stats).collect();
    assert!(
        stats.iter().map(|s| s.timeouts).sum::<u64>() >= 1,
        "the first put was lost"
    );
    assert_eq!(stats.iter().map(|s| s.items_handed_off).sum::<u64>(), 1);
    assert_eq!(stats.iter().map(|s| s.handoff_failed).sum::<u64>(), 0);
    assert!(stats.iter().all(|s| s.handoff_queued == 0));
}

#[test]
fn a_hand_off_put_unanswered_at_every_send_is_given_up_and_counted() {
    let drop = Box::new(|to: usize, d: &[u8]| to == 4 && is_put(d));
    let (net, key) = a_joiner_owed_an_item(drop);
    assert!(net.nodes[4].store.get_immutable(&key, net.now).is_none());
    let stats: Vec<_> = net.nodes.iter().map(Node::stats).collect();
    assert_eq!(stats.iter().map(|s| s.items_handed_off).sum::<u64>(), 0);
    assert_eq!(stats.iter().map(|s| s.handoff_failed).sum::<u64>(), 1);
    assert!(stats.iter().all(|s| s.handoff_queued == 0));
}

#[test]
fn forged_joins_and_departures_are_refused_and_counted() {
    let mut net = Net::new(3);
    net.run(Duration::from_secs(3));
    let node = &net.nodes[1];
    let before = node.members();
    let mut out = Output::new();
    let now = net.now;
    // A join for an id that is not its signer's: refused.
    let mallory = SigningKey::from_bytes(&[9; 32]);
    let victim = Id::sha1(b"someone else");
    let forged = MemberEvent::Join {
        id: victim,
        addr: addr(4000),
    };
    let d = event_datagram(
        &mallory,
        1,
        forged,
        member_id(&mallory.verifying_key().to_bytes()),
    );
    node.handle_datagram(addr(4001), &d, now, &mut out);
    assert_eq!(node.members(), before);
    assert_eq!(node.stats().members_forged, 1);
    // A departure of a live member announced by a stranger: refused.
    let live = net.nodes[2].id();
    let d = event_datagram(&mallory, 2, MemberEvent::Leave { id: live }, Id::sha1(b"x"));
    node.handle_datagram(addr(4001), &d, now, &mut out);
    assert_eq!(node.stats().members_forged, 2);
    assert_eq!(node.members(), before);
    // A join signed by its own key is taken, once however often it comes.
    let honest = SigningKey::from_bytes(&[3; 32]);
    let id = member_id(&honest.verifying_key().to_bytes());
    for seq in 1..=2 {
        let join = MemberEvent::Join {
            id,
            addr: addr(4002),
        };
        let d = event_datagram(&honest, seq, join, id);
        node.handle_datagram(addr(4002), &d, now, &mut out);
    }
    assert_eq!(
        node.members().len(),
        before.len() + 1,
        "a duplicate id is one member"
    );
    assert_eq!(node.member(&id).map(|m| m.addr), Some(addr(4002)));
    // ... and it may depart by its own word.
    let d = event_datagram(&honest, 3, MemberEvent::Leave { id }, id);
    node.handle_datagram(addr(4002), &d, now, &mut out);
    assert_eq!(node.members(), before);
}

#[test]
fn a_departure_claimed_by_a_member_is_checked_before_it_is_believed() {
    let mut net = Net::new(4);
    net.run(Duration::from_secs(3));
    // Node 0's key is a member's: let it claim that node 2, alive, is gone.
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let (key0, id0) = crate::node::onehop::new_member_key(&mut rng);
    assert_eq!(id0, net.nodes[0].id(), "the same seeded key as node 0's");
    let alive = net.nodes[2].id();
    let d = event_datagram(&key0, 1_000, MemberEvent::Leave { id: alive }, id0);
    let mut out = Output::new();
    let now = net.now;
    net.nodes[1].handle_datagram(addr(1000), &d, now, &mut out);
    net.take(1, &mut out);
    net.run(Duration::from_secs(2));
    assert!(
        net.nodes[1].members().contains(&alive),
        "it answered the check"
    );
    assert_eq!(net.nodes[1].stats().members_refuted, 1);
    // The same claim about a node that is really down is believed after the check.
    let gone = net.nodes[3].id();
    net.down.insert(3);
    let d = event_datagram(&key0, 1_001, MemberEvent::Leave { id: gone }, id0);
    let now = net.now;
    net.nodes[1].handle_datagram(addr(1000), &d, now, &mut out);
    net.take(1, &mut out);
    net.run(Duration::from_secs(3));
    assert!(!net.nodes[1].members().contains(&gone));
}

#[test]
fn one_hop_settings_are_checked() {
    let mut c = config(vec![]);
    c.network = None;
    let e = c.validate().expect_err("no network");
    assert!(e.to_string().contains("network"), "{e}");
    let mut c = config(vec![]);
    c.broadcast.accept = AcceptPolicy::Off;
    assert!(c.validate().is_err());
    let mut c = config(vec![]);
    if let Overlay::OneHop(o) = &mut c.overlay {
        o.replicas = 0;
    }
    assert!(c.validate().is_err());
    let mut c = config(vec![]);
    if let Overlay::OneHop(o) = &mut c.overlay {
        o.partitioner = Scheme::Ring { vnodes: 0 };
    }
    assert!(c.validate().is_err());
    assert!(config(vec![]).validate().is_ok());
    // A lone member cannot name three owners exactly.
    let node = Node::new(Id::ZERO, config(vec![]), Time::ZERO);
    let e = node.owners(&Id::sha1(b"k")).expect_err("too few members");
    assert!(e.to_string().contains("owners among"), "{e}");
}

/// The seed corpus of `fuzz/fuzz_targets/onehop.rs`, through the same steps as the
/// fuzz target: no panic, events round-trip, a members query is answered.
#[test]
fn the_fuzz_corpus_runs_through_a_one_hop_node() {
    let corpus: [&[u8]; 4] = [
        include_bytes!("../../../../fuzz/corpus/onehop/members_query"),
        include_bytes!("../../../../fuzz/corpus/onehop/digest_query"),
        include_bytes!("../../../../fuzz/corpus/onehop/join_payload"),
        include_bytes!("../../../../fuzz/corpus/onehop/leave_payload"),
    ];
    let node = Node::new(Id::ZERO, config(vec![]), Time::ZERO);
    node.set_member_addr(addr(6881));
    let mut out = Output::new();
    let mut answered = 0;
    for data in corpus {
        if let Some(event) = MemberEvent::decode(data) {
            assert_eq!(MemberEvent::decode(&event.encode()), Some(event));
        }
        node.handle_datagram(addr(7000), data, Time::ZERO, &mut out);
        if let Some(body) = data.strip_suffix(b"e") {
            let mut tagged2 = body.to_vec();
            tagged2.push(b'e');
            stamp(&mut tagged2, 0, Some(&net()));
            node.handle_datagram(addr(7000), &tagged2, Time::ZERO, &mut out);
        }
        answered += out
            .datagrams()
            .filter_map(|(_, d)| crate::wire::decode(d).ok())
            .filter(|m| matches!(m.kind, crate::wire::MessageKind::Response(_)))
            .count();
        out.clear();
    }
    assert_eq!(answered, 2, "the members and digest queries are answered");
    node.tick(Time::from_millis(10_000), &mut out);
}
