//! The operation state machine: what a user operation does from [`Node::start`] to
//! its [`Event::Done`](super::Event::Done).
//!
//! An operation goes through phases ([`Phase`]): a bootstrap may ask the routers
//! in turn, most kinds run an iterative [`Lookup`], a put or announce then stores on
//! the closest nodes that gave a token, a ping waits for one answer. This file runs
//! the phases: it starts an operation, sends what its phase wants sent
//! ([`Node::drive`]), feeds it the answers and timeouts of its queries
//! ([`Node::advance_on_answer`]) and reports its end. What differs between kinds
//! (which query the lookup sends, what an answer carries, what the end of the
//! lookup means) each kind says in its own file, through the [`Kind`] trait:
//! a new operation kind is a `Request` variant, a file here and an arm in
//! [`kind_of`].
//!
//! Locks: an operation's shard of the operation table, then in-flight shards
//! (sending its queries); never the reverse.

mod announce;
mod bootstrap;
mod find_node;
mod get;
mod get_mutable;
mod get_peers;
mod mutable;
mod ping;
mod put;
mod put_mutable;
mod sample;
mod scrape;
mod storing;
mod subscribe;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::ops::{OpError, OpId, OpResult, Outcome, Request};
use super::output::{Event, Output};
use super::transactions::Pending;
use super::Node;
use crate::id::{Id, NodeInfo};
use crate::keypair::mutable_target;
use crate::lookup::{Lookup, LookupStats};
use crate::time::Time;
use crate::wire::{BloomFilter, QueryMethod, Response};

/// How soon a lookup paced by a full in-flight table tries again.
const IN_FLIGHT_RETRY: Duration = Duration::from_millis(5);

/// What an operation is doing now.
#[derive(Debug)]
pub(super) enum Phase {
    /// Bootstrap: asking routers in turn for nodes near our id; `next` indexes
    /// `config.bootstrap`, `waiting` says a query to the previous one is in flight.
    Routers { next: usize, waiting: bool },
    /// An iterative lookup.
    Lookup(Box<Lookup>),
    /// Storing on the closest nodes (put or announce_peer): answers outstanding,
    /// and how the others answered.
    Storing {
        outstanding: usize,
        verdicts: storing::Verdicts,
        asked: usize,
    },
    /// A single ping.
    Ping,
}

/// What a lookup collected on its way, for the kinds that collect something.
#[derive(Debug, Default)]
pub(super) struct Found {
    /// Peers of an info-hash (`get_peers`).
    pub(super) peers: Vec<SocketAddr>,
    /// The value of an item (`get`).
    pub(super) value: Option<Vec<u8>>,
    /// What a mutable put or get found (`put_mutable`, `get_mutable`).
    pub(super) mutable: Option<Box<mutable::MutableSearch>>,
    /// The sequence number a mutable put signed and stores.
    pub(super) signed_seq: Option<i64>,
    /// The BEP 33 filters each node answered with (`scrape`): seeds, peers.
    pub(super) filters: Vec<(Id, Box<(BloomFilter, BloomFilter)>)>,
    /// The info-hashes sampled (`sample_infohashes`), and the answers' largest
    /// `num` and `interval`.
    pub(super) samples: Option<Box<sample::Sampled>>,
}

/// One running operation.
#[derive(Debug)]
pub(super) struct Operation {
    pub(super) request: Request,
    pub(super) phase: Phase,
    pub(super) found: Found,
    pub(super) lookup: LookupStats,
    pub(super) sent: u32,
    /// Whether the lookup has fallen back to the routers already (bootstrap).
    pub(super) tried_routers: bool,
}

/// How an operation's first step went.
pub(super) enum Begin {
    /// It runs: insert it and drive it.
    Run,
    /// It is over already (refused, or answered without the network).
    Done(Result<Outcome, OpError>),
}

/// What one operation kind decides; the phase machine asks it at each step. Every
/// method but [`Kind::after_lookup`] has a default that fits a plain lookup.
pub(super) trait Kind: Sync {
    /// Checks the request and sets the operation's first phase (by default, a
    /// lookup of the request's target).
    fn begin(
        &self,
        node: &Node,
        op: OpId,
        operation: &mut Operation,
        now: Time,
        out: &mut Output,
    ) -> Begin {
        let _ = (op, now, out);
        node.begin_lookup(request_target(&operation.request), operation)
    }

    /// The query the lookup sends to each node it asks, given what it `found` so far.
    fn lookup_method(&self, target: Id, found: &Found) -> QueryMethod<'static> {
        let _ = found;
        QueryMethod::FindNode { target }
    }

    /// Whether the lookup keeps the write tokens of the answers (for a store phase).
    fn wants_tokens(&self) -> bool {
        false
    }

    /// Takes what a lookup answer carries besides nodes (a value, peers); may stop
    /// the lookup.
    fn on_lookup_answer(
        &self,
        node: &Node,
        found: &mut Found,
        lookup: &mut Lookup,
        response: &Response<'_>,
    ) {
        let _ = (node, found, lookup, response);
    }

    /// The lookup is over: the result, or `None` when the operation goes on to a
    /// next phase.
    fn after_lookup(
        &self,
        node: &Node,
        op: OpId,
        operation: &mut Operation,
        now: Time,
        out: &mut Output,
    ) -> Option<Result<Outcome, OpError>>;

    /// The result of a store phase acknowledged by `acks` nodes (only kinds with a
    /// store phase are asked), given what the lookup `found`.
    fn stored(&self, request: &Request, found: &Found, acks: usize) -> Option<Outcome> {
        let _ = (request, found, acks);
        None
    }

    /// Runs after the operation has reported its end.
    fn on_done(&self, node: &Node, succeeded: bool, now: Time, out: &mut Output) {
        let _ = (node, succeeded, now, out);
    }
}

/// The kind that carries out `request`: the one place the machine looks at which
/// request it runs.
fn kind_of(request: &Request) -> &'static dyn Kind {
    match request {
        Request::Bootstrap => &bootstrap::Bootstrap,
        Request::FindNode(_) => &find_node::FindNode,
        Request::GetPeers(_) => &get_peers::GetPeers,
        Request::Announce { .. } => &announce::Announce,
        Request::Get(_) => &get::Get,
        Request::Put(_) => &put::Put,
        Request::Ping(_) => &ping::Ping,
        Request::PutMutable { .. } | Request::RepublishMutable(_) => &put_mutable::PutMutable,
        Request::GetMutable { .. } => &get_mutable::GetMutable,
        Request::Scrape(_) => &scrape::Scrape,
        Request::SampleInfohashes(_) => &sample::Sample,
        Request::Subscribe(_) => &subscribe::Subscribe,
    }
}

/// The id an operation looks up (bootstrap and ping look up none; bootstrap's
/// lookup targets the own id, set where it starts).
fn request_target(request: &Request) -> Id {
    match request {
        Request::FindNode(t)
        | Request::GetPeers(t)
        | Request::Get(t)
        | Request::Scrape(t)
        | Request::SampleInfohashes(t)
        | Request::Subscribe(t) => *t,
        Request::Announce { info_hash, .. } => *info_hash,
        Request::Put(v) => Id::sha1(v),
        Request::PutMutable {
            keypair, options, ..
        } => keypair.target(&options.salt),
        Request::RepublishMutable(item) => item.target(),
        Request::GetMutable {
            public_key, salt, ..
        } => mutable_target(public_key, salt),
        Request::Bootstrap | Request::Ping(_) => Id::ZERO,
    }
}

/// How many of its lookup's closest nodes answered, if the phase is a lookup.
fn answered(operation: &Operation) -> usize {
    match &operation.phase {
        Phase::Lookup(lookup) => lookup.closest_answered().count(),
        _ => 0,
    }
}

impl Node {
    /// Starts an operation; its result comes later as [`Event::Done`] with this `op`
    /// (possibly already in `out`, e.g. [`OpError::NoRoute`]).
    ///
    /// Locks: routing buckets (the lookup's seeds), then the new operation's shard,
    /// then in-flight shards; a bootstrap also takes the maintenance mutex first, a
    /// put or announce the re-publish list's mutex.
    pub fn start(&self, op: OpId, request: Request, now: Time, out: &mut Output) {
        self.counters.ops_started.fetch_add(1, Ordering::Relaxed);
        if self.ops.len() >= self.config.max_operations {
            let (what, limit) = ("operations running", self.ops.len());
            self.finish(op, None, Err(OpError::Busy { what, limit }), now, out);
            return;
        }
        let kind = kind_of(&request);
        let mut operation = Operation {
            request,
            phase: Phase::Ping,
            found: Found::default(),
            lookup: LookupStats::default(),
            sent: 0,
            tried_routers: false,
        };
        match kind.begin(self, op, &mut operation, now, out) {
            Begin::Done(result) => self.finish(op, None, result, now, out),
            Begin::Run => {
                self.ops.insert(op, operation);
                self.drive(op, now, out);
            }
        }
    }

    /// Puts the operation in a lookup of `target` from the closest contacts (or
    /// the saved seeds when the table is empty); [`OpError::NoRoute`] without any.
    pub(super) fn begin_lookup(&self, target: Id, operation: &mut Operation) -> Begin {
        if let Some(begun) = self.onehop_begin_lookup(target, operation) {
            return begun;
        }
        let mut seeds = Vec::new();
        self.closest_contacts(&target, self.lookup_seeds(), &mut seeds);
        if seeds.is_empty() {
            seeds.extend(self.seeds.lock().iter().copied());
        }
        if seeds.is_empty() {
            return Begin::Done(Err(OpError::NoRoute));
        }
        operation.phase = Phase::Lookup(Box::new(self.new_lookup(target, seeds)));
        Begin::Run
    }

    /// A lookup of `target` from `seeds`: over both families on a dual-stack node
    /// (BEP 32, [`Lookup::with_families`]).
    pub(super) fn new_lookup(
        &self,
        target: Id,
        seeds: impl IntoIterator<Item = NodeInfo>,
    ) -> Lookup {
        let config = self.config.lookup.clone();
        Lookup::with_families(target, self.id, seeds, config, self.routing6.is_some())
    }

    /// Writes the `count` closest contacts to `target` of each routing table into
    /// `seeds` (cleared first by the table).
    pub(super) fn closest_contacts(&self, target: &Id, count: usize, seeds: &mut Vec<NodeInfo>) {
        self.routing.closest(target, count, seeds);
        if let Some(v6) = &self.routing6 {
            let mut more = Vec::new();
            v6.closest(target, count, &mut more);
            seeds.extend(more);
        }
    }

    /// How many of its closest contacts a lookup starts from: twice k. A lookup asks
    /// only the k closest it has not seen fail, so the rest cost nothing while those
    /// answer; when they do not (a table of stale contacts, after a restart or an
    /// outage), the lookup goes on from the next ones instead of failing.
    fn lookup_seeds(&self) -> usize {
        2 * self.config.lookup.k
    }

    /// Abandons an operation; no event will come for it. Its queries in flight are
    /// left to be answered or to time out, but nothing more is sent for it. A put or
    /// announce abandoned after it started stays in the re-publish list
    /// ([`Node::unpublish`] removes it).
    pub fn cancel(&self, op: OpId) {
        self.ops.remove(&op);
    }

    /// Operations running now (started, neither finished nor cancelled).
    pub fn operations_running(&self) -> usize {
        self.ops.len()
    }

    /// Sends what the operation's current phase wants sent, and moves it on when
    /// the phase is over.
    pub(super) fn drive(&self, op: OpId, now: Time, out: &mut Output) {
        let Some(mut entry) = self.ops.get_mut(&op) else {
            return;
        };
        let operation = entry.value_mut();
        let finished = match &operation.phase {
            Phase::Ping => None,
            Phase::Routers { .. } => self.next_router(op, operation, now, out),
            Phase::Lookup(_) => self.drive_lookup(op, operation, now, out),
            Phase::Storing { .. } => storing::drive(operation),
        };
        if let Some(result) = finished {
            let stats = (operation.lookup, operation.sent);
            let kind = kind_of(&operation.request);
            drop(entry);
            self.end(op, kind, stats, result, now, out);
        }
    }

    /// Sends the lookup's next queries; at its end, asks the kind what follows.
    fn drive_lookup(
        &self,
        op: OpId,
        operation: &mut Operation,
        now: Time,
        out: &mut Output,
    ) -> Option<Result<Outcome, OpError>> {
        let kind = kind_of(&operation.request);
        let Phase::Lookup(lookup) = &mut operation.phase else {
            return None;
        };
        let method = kind.lookup_method(lookup.target(), &operation.found);
        while let Some(node) = lookup.next_query(now) {
            if self.send_query(node.addr, Some(node.id), Some(op), method, now, out) {
                operation.sent += 1;
            } else {
                // The in-flight table is full: pace. The node stays a candidate and
                // is asked once answers free some room.
                lookup.unask(&node);
                self.want_tick_at(now + IN_FLIGHT_RETRY);
                break;
            }
        }
        if let Some(at) = lookup.next_stall(now) {
            self.want_tick_at(at);
        }
        if !lookup.is_finished() {
            return None;
        }
        operation.lookup = lookup.stats();
        self.size.observe(lookup);
        kind.after_lookup(self, op, operation, now, out)
    }

    /// An answer (or, with `response` `None`, an error reply with `error_code`, or
    /// a timeout) to a query of operation `op`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn advance_on_answer(
        &self,
        op: OpId,
        pending: &Pending,
        responder: NodeInfo,
        response: Option<&Response<'_>>,
        error_code: Option<i64>,
        now: Time,
        out: &mut Output,
    ) {
        let finished = {
            let Some(mut entry) = self.ops.get_mut(&op) else {
                return;
            };
            let operation = entry.value_mut();
            let queried = NodeInfo::new(pending.id.unwrap_or(responder.id), pending.to);
            let result = match &mut operation.phase {
                Phase::Ping => Some(ping::on_answer(response)),
                phase @ Phase::Routers { .. } => {
                    self.on_router_answer(phase, responder, response);
                    None
                }
                Phase::Lookup(_) => {
                    on_lookup_answer(self, operation, &queried, response);
                    None
                }
                phase @ Phase::Storing { .. } => {
                    let answer = match (response, error_code) {
                        (Some(_), _) => Some(Ok(())),
                        (None, Some(code)) => Some(Err(code)),
                        (None, None) => None,
                    };
                    storing::on_answer(phase, answer);
                    None
                }
            };
            let kind = kind_of(&operation.request);
            result.map(|result| (kind, (operation.lookup, operation.sent), result))
        };
        match finished {
            Some((kind, stats, result)) => self.end(op, kind, stats, result, now, out),
            None => self.drive(op, now, out),
        }
    }

    /// Removes a finished operation, reports it, and runs its kind's follow-up.
    fn end(
        &self,
        op: OpId,
        kind: &dyn Kind,
        stats: (LookupStats, u32),
        result: Result<Outcome, OpError>,
        now: Time,
        out: &mut Output,
    ) {
        let succeeded = result.is_ok();
        self.ops.remove(&op);
        if self.ops.is_empty() {
            // A node's last operation ended: its tables, grown for it, need not
            // stay so until housekeeping (a simulator's 100,000 lookups from
            // random nodes otherwise leave each of those nodes a kilobyte or two).
            self.shrink_to_fit();
        }
        self.finish(op, Some(stats), result, now, out);
        kind.on_done(self, succeeded, now, out);
    }

    /// Reports an operation's end.
    fn finish(
        &self,
        op: OpId,
        stats: Option<(LookupStats, u32)>,
        outcome: Result<Outcome, OpError>,
        now: Time,
        out: &mut Output,
    ) {
        self.counters.ops_done.fetch_add(1, Ordering::Relaxed);
        let (lookup, sent) = stats.unwrap_or_default();
        if self.on_subtree_found(op, &outcome, sent, now, out) {
            return;
        }
        out.events.push(Event::Done {
            op,
            result: OpResult {
                outcome,
                lookup,
                sent,
            },
        });
    }
}

/// An answer to a lookup query (`None`: an error reply or a timeout).
fn on_lookup_answer(
    node: &Node,
    operation: &mut Operation,
    queried: &NodeInfo,
    response: Option<&Response<'_>>,
) {
    let kind = kind_of(&operation.request);
    let Phase::Lookup(lookup) = &mut operation.phase else {
        return;
    };
    let Some(r) = response else {
        lookup.on_failure(queried);
        return;
    };
    let nodes = r
        .nodes
        .iter()
        .flat_map(|n| n.iter())
        .chain(r.nodes6.iter().flat_map(|n| n.iter()));
    // Only a put or announce sends tokens back; the others need not keep a copy
    // of each.
    lookup.on_response(queried, nodes, r.token.filter(|_| kind.wants_tokens()));
    kind.on_lookup_answer(node, &mut operation.found, lookup, r);
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use rand::SeedableRng;

    use crate::id::{Id, NodeInfo};
    use crate::node::test_support::addr;
    use crate::node::{Event, Node, NodeConfig, OpError, Outcome, Output, Request};
    use crate::time::Time;
    use crate::wire::{self, Message, MessageKind, Response};

    /// A lookup whose k closest contacts are all gone goes on from the next ones.
    #[test]
    fn a_lookup_whose_closest_contacts_are_dead_asks_the_next_ones() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let node = Node::with_rng(
            Id::random_with(&mut rng),
            NodeConfig::default(),
            Time::ZERO,
            &mut rng,
        );
        // Sixteen contacts, one per bucket, so all of them fit in the table.
        let contacts: Vec<NodeInfo> = (0..16u16)
            .map(|i| {
                NodeInfo::new(
                    node.id().random_in_bucket(usize::from(i), &mut rng),
                    addr(1000 + i),
                )
            })
            .collect();
        for c in &contacts {
            let _ = node.routing().on_response(*c, Time::ZERO);
        }
        assert_eq!(node.routing().len(), 16);
        let target = Id::random_with(&mut rng);
        let mut by_distance = contacts.clone();
        by_distance.sort_by_key(|c| c.id.distance(&target));
        let (dead, alive) = by_distance.split_at(8);

        let mut out = Output::new();
        let op = node.next_op_id();
        node.start(op, Request::FindNode(target), Time::ZERO, &mut out);
        let mut now = Time::ZERO;
        let mut result = None;
        while result.is_none() && now < Time::from_millis(60_000) {
            let queries: Vec<(SocketAddr, Vec<u8>)> =
                out.datagrams().map(|(to, d)| (to, d.to_vec())).collect();
            for event in out.events.drain(..) {
                if let Event::Done { op: o, result: r } = event {
                    if o == op {
                        result = Some(r);
                    }
                }
            }
            out.clear();
            for (to, datagram) in queries {
                let Some(contact) = alive.iter().find(|c| c.addr == to) else {
                    continue; // a dead contact: no answer
                };
                let query = wire::decode(&datagram).expect("a query");
                let reply = Message {
                    tid: query.tid,
                    version: None,
                    ip: None,
                    read_only: false,
                    network: None,
                    kind: MessageKind::Response(Response {
                        id: contact.id,
                        ..Response::default()
                    }),
                };
                let mut buf = Vec::new();
                reply.encode(&mut buf);
                node.handle_datagram(to, &buf, now, &mut out);
            }
            if out.is_empty() {
                now = node.next_deadline().max(now + Duration::from_millis(1));
                node.tick(now, &mut out);
            }
        }
        let result = result.expect("the lookup ended");
        let Ok(Outcome::Nodes(found)) = result.outcome else {
            panic!("the lookup failed: {:?}", result.outcome);
        };
        assert_eq!(found, alive.to_vec(), "the next eight, nearest first");
        assert!(dead.iter().all(|d| !found.contains(d)));
    }

    #[test]
    fn operations_without_route_fail_at_once() {
        let config = NodeConfig::default();
        let node = Node::new(Id::random(), config, Time::ZERO);
        let mut out = Output::new();
        let op = node.next_op_id();
        node.start(op, Request::Get(Id::random()), Time::ZERO, &mut out);
        assert!(matches!(
            out.events.as_slice(),
            [Event::Done { result, .. }] if result.outcome == Err(OpError::NoRoute)
        ));
    }

    #[test]
    fn oversized_or_malformed_values_are_bad_input() {
        let node = Node::new(Id::random(), NodeConfig::default(), Time::ZERO);
        let mut out = Output::new();
        let too_big = wire::bencode::encode_bytes(&[0u8; 1000]);
        node.start(
            node.next_op_id(),
            Request::Put(too_big),
            Time::ZERO,
            &mut out,
        );
        node.start(
            node.next_op_id(),
            Request::Put(b"3:ab".to_vec()),
            Time::ZERO,
            &mut out,
        );
        assert_eq!(out.events.len(), 2);
        for event in &out.events {
            let bad_input = match event {
                Event::Done { result, .. } => matches!(result.outcome, Err(OpError::BadInput(_))),
                Event::ExternalIp { .. }
                | Event::Broadcast(_)
                | Event::MutableUpdate(_)
                | Event::Peers { .. } => false,
            };
            assert!(bad_input, "{event:?}");
        }
    }
}
