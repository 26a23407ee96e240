//! The sans-I/O DHT node: every protocol decision, no socket and no clock.
//!
//! Entry point: [`Node`]. A driver hands it datagrams
//! ([`Node::handle_datagram`]), user requests ([`Node::start`]) and timer ticks
//! ([`Node::tick`]), each with the current [`Time`]; the node writes datagrams to send
//! and events into an [`Output`] and says when it next wants a tick
//! ([`Node::next_deadline`]). Two drivers run this very code: [`udp`] on real sockets
//! and the simulator on a virtual network.
//!
//! All methods take `&self`: the state is lock-sharded (routing buckets, store
//! shards, in-flight and operation tables are `DashMap`s), so several threads can
//! feed one node at once. Lock order: an operation's shard, then an in-flight shard;
//! never the reverse, and no routing or store lock is held across either.

pub mod config;
pub mod ip_vote;
pub mod limits;
pub mod ops;
pub mod output;
pub mod rtt;
pub mod state;
pub mod udp;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

pub use config::{NodeConfig, CLIENT_VERSION};
pub use limits::RateLimitConfig;
pub use ops::{OpError, OpId, OpResult, Outcome, Request};
pub use output::{Event, Output};

use crate::id::{Id, NodeInfo};
use crate::lookup::{Lookup, LookupStats};
use crate::routing::{InsertOutcome, RoutingTable, TimeoutOutcome};
use crate::rpc::{self, token::Tokens, Answered, Refusal};
use crate::store::Store;
use crate::time::Time;
use crate::wire::{self, Message, MessageKind, PutArgs, Query, QueryMethod, Response};
use ip_vote::ExternalIp;
use limits::{Limited, RateLimiter};
use rtt::RttEstimator;

/// Hasher of the transaction and operation tables. Their keys are ours (transaction
/// ids we chose, operation ids we count), never a peer's choice, so a fixed-key
/// hasher cannot be flooded; and fixed keys give a seeded run the same table layout,
/// hence the same memory figures, every time (the simulator compares them).
type FixedState = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

/// A query this node sent and awaits an answer to.
#[derive(Debug)]
struct Pending {
    to: SocketAddr,
    /// The id we expect to answer; unknown for routers and pings by address.
    id: Option<Id>,
    op: Option<OpId>,
    sent: Time,
    deadline: Time,
    tries: u8,
    /// The encoded query, kept to send it again.
    datagram: Box<[u8]>,
}

/// What an operation is doing now.
#[derive(Debug)]
enum Phase {
    /// Bootstrap: asking routers in turn for nodes near our id; `next` indexes
    /// `config.bootstrap`, `waiting` says a query to the previous one is in flight.
    Routers { next: usize, waiting: bool },
    /// An iterative lookup.
    Lookup(Box<Lookup>),
    /// Storing on the closest nodes (put or announce_peer): answers outstanding.
    Storing {
        outstanding: usize,
        acks: usize,
        asked: usize,
    },
    /// A single ping.
    Ping,
}

#[derive(Debug)]
struct Operation {
    request: Request,
    phase: Phase,
    peers: Vec<SocketAddr>,
    value: Option<Vec<u8>>,
    lookup: LookupStats,
    sent: u32,
    /// Whether the lookup has fallen back to the routers already (bootstrap).
    tried_routers: bool,
}

/// Timers of the periodic maintenance, touched only by [`Node::tick`].
#[derive(Debug)]
struct Maintenance {
    next_run: Time,
    next_refresh_check: Time,
    next_republish: Time,
    next_rebootstrap: Time,
    rebootstrap_backoff: std::time::Duration,
    bootstrap_op: Option<OpId>,
}

/// Counters a node keeps, read with [`Node::stats`].
#[derive(Debug, Default)]
struct Counters {
    packets_in: AtomicU64,
    packets_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    queries_in: [AtomicU64; 7],
    responses_in: AtomicU64,
    errors_in: AtomicU64,
    malformed: AtomicU64,
    oversized: AtomicU64,
    rate_limited_ip: AtomicU64,
    rate_limited_global: AtomicU64,
    bad_token: AtomicU64,
    over_quota: AtomicU64,
    refused: AtomicU64,
    unmatched: AtomicU64,
    timeouts: AtomicU64,
    retries: AtomicU64,
    in_flight_full: AtomicU64,
    send_drops: AtomicU64,
    ops_started: AtomicU64,
    ops_done: AtomicU64,
}

/// Query counters are kept per method, in this order.
const METHODS: [&str; 7] = [
    "ping",
    "find_node",
    "get_peers",
    "announce_peer",
    "get",
    "put",
    "other",
];

/// A snapshot of a node's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Datagrams received.
    pub packets_in: u64,
    /// Datagrams sent.
    pub packets_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Queries received, by method (`other` for unknown methods).
    pub queries_in: Vec<(&'static str, u64)>,
    /// Answers received to our queries.
    pub responses_in: u64,
    /// KRPC errors received in answer to our queries.
    pub errors_in: u64,
    /// Datagrams that did not decode (dropped; a query among them whose transaction
    /// id could be read got a 203 error, within the rate limits).
    pub malformed: u64,
    /// Datagrams longer than [`NodeConfig::max_datagram`], dropped unread.
    pub oversized: u64,
    /// Queries dropped unanswered because their source IP was over its rate.
    pub rate_limited_ip: u64,
    /// Queries dropped unanswered because the node was over its global rate.
    pub rate_limited_global: u64,
    /// `announce_peer` and `put` queries refused for a missing or wrong write token.
    pub bad_token: u64,
    /// Puts and announces refused because the store (or the asker's share) was full.
    pub over_quota: u64,
    /// Other queries answered with an error: unknown method, bad arguments, value or
    /// salt too big, bad signature, CAS or sequence conflict.
    pub refused: u64,
    /// Answers that matched no query in flight (late, spoofed or duplicate).
    pub unmatched: u64,
    /// Queries that got no answer after every retry.
    pub timeouts: u64,
    /// Queries sent again after a timeout.
    pub retries: u64,
    /// Queries not sent because the in-flight table was full.
    pub in_flight_full: u64,
    /// Datagrams the driver could not send (socket buffer full).
    pub send_drops: u64,
    /// Operations started and finished.
    pub ops_started: u64,
    /// Operations finished.
    pub ops_done: u64,
    /// Queries awaiting an answer now.
    pub in_flight: usize,
    /// Contacts in the routing table.
    pub routing_table_size: usize,
    /// Immutable items stored for others.
    pub items: usize,
    /// Info-hashes with peers stored for others.
    pub info_hashes: usize,
    /// Bytes of values stored for others.
    pub stored_bytes: usize,
    /// Items this node re-publishes.
    pub published: usize,
    /// The node's public address, learned by vote ([`Node::external_ip`]).
    pub external_ip: Option<IpAddr>,
    /// Whether the node id conforms to BEP 42 for `external_ip` (`None` while that
    /// is unknown; see [`Node::id_conforms`]).
    pub id_conforms: Option<bool>,
}

/// A DHT node's protocol logic and shared state, driven from outside.
#[derive(Debug)]
pub struct Node {
    id: Id,
    /// Shared by the nodes built from one `Arc` (a simulator's million nodes).
    config: Arc<NodeConfig>,
    routing: RoutingTable,
    store: Store,
    tokens: Tokens,
    limiter: RateLimiter,
    rtt: RttEstimator,
    in_flight: DashMap<u32, Pending, FixedState>,
    in_flight_len: AtomicUsize,
    next_tid: AtomicU32,
    next_op: AtomicU64,
    ops: DashMap<OpId, Operation, FixedState>,
    /// Immutable items this node put: key → bencoded value, re-published. Touched
    /// only by user operations and the republish timer, never per packet, so one
    /// lock will do; an empty `BTreeMap` costs no heap (a million simulated nodes
    /// mostly publish nothing), and it iterates in key order (seeded runs repeat).
    published: Mutex<BTreeMap<Id, Vec<u8>>>,
    /// Announces this node made: info-hash → port, re-announced (as `published`).
    announced: Mutex<BTreeMap<Id, Option<u16>>>,
    /// Contacts to try when (re)bootstrapping: loaded from a saved table.
    seeds: Mutex<Vec<NodeInfo>>,
    maintenance: Mutex<Maintenance>,
    next_deadline: AtomicU64,
    counters: Counters,
    /// Seed of the next random stream (token secrets, refresh targets): advanced on
    /// each use, so a node built by [`Node::with_rng`] from a seeded generator
    /// behaves the same on every run (the simulator's determinism rests on it).
    rng_seed: AtomicU64,
    /// The vote on our public address (BEP 42), see [`ip_vote`].
    external: ExternalIp,
}

impl Node {
    /// A node with this id and configuration, created at `now`. The configuration
    /// may be a shared `Arc<NodeConfig>`, as a simulator of many nodes passes.
    pub fn new(id: Id, config: impl Into<Arc<NodeConfig>>, now: Time) -> Node {
        Node::with_rng(id, config, now, &mut rand::thread_rng())
    }

    /// Like [`Node::new`], with every random choice of the node (token secrets,
    /// transaction ids, bucket refresh targets) drawn from streams seeded by `rng`:
    /// the same seed gives the same node behaviour (the simulator uses it).
    pub fn with_rng<R: RngCore + ?Sized>(
        id: Id,
        config: impl Into<Arc<NodeConfig>>,
        now: Time,
        rng: &mut R,
    ) -> Node {
        let config: Arc<NodeConfig> = config.into();
        let shards = config.in_flight_shards.max(2).next_power_of_two();
        Node {
            id,
            routing: RoutingTable::new(id, config.routing.clone()),
            store: Store::new(id, config.store.clone()),
            tokens: Tokens::random(rng, now),
            limiter: RateLimiter::new(config.rate_limit.clone(), now),
            rtt: RttEstimator::new(
                config.timeout_initial,
                config.timeout_floor,
                config.timeout_ceiling,
            ),
            in_flight: DashMap::with_hasher_and_shard_amount(FixedState::default(), shards),
            in_flight_len: AtomicUsize::new(0),
            next_tid: AtomicU32::new(rng.next_u32()),
            next_op: AtomicU64::new(1),
            ops: DashMap::with_hasher_and_shard_amount(FixedState::default(), shards),
            published: Mutex::new(BTreeMap::new()),
            announced: Mutex::new(BTreeMap::new()),
            seeds: Mutex::new(Vec::new()),
            maintenance: Mutex::new(Maintenance {
                next_run: now + config.maintenance_interval,
                next_refresh_check: now + config.refresh_interval,
                next_republish: now + config.republish_interval,
                next_rebootstrap: now + config.rebootstrap_min,
                rebootstrap_backoff: config.rebootstrap_min,
                bootstrap_op: None,
            }),
            next_deadline: AtomicU64::new((now + config.maintenance_interval).as_millis()),
            counters: Counters::default(),
            rng_seed: AtomicU64::new(rng.next_u64()),
            external: ExternalIp::default(),
            config,
        }
    }

    /// A random stream of its own for one use, from the node's seed.
    fn rng(&self) -> SmallRng {
        // Golden-ratio steps keep successive seeds apart; SmallRng's seeding
        // mixes them further.
        SmallRng::seed_from_u64(
            self.rng_seed
                .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed),
        )
    }

    /// The node id.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The routing table.
    pub fn routing(&self) -> &RoutingTable {
        &self.routing
    }

    /// What this node stores for others.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A fresh operation id for [`Node::start`].
    pub fn next_op_id(&self) -> OpId {
        OpId(self.next_op.fetch_add(1, Ordering::Relaxed))
    }

    /// Contacts to (re)bootstrap from, e.g. loaded from a saved routing table. They
    /// are queried, not trusted: only those that answer enter the table.
    pub fn add_seeds(&self, contacts: impl IntoIterator<Item = NodeInfo>) {
        let mut seeds = self.seeds.lock();
        seeds.extend(contacts.into_iter().filter(|c| c.id != self.id));
        seeds.dedup();
    }

    /// The routing table's contacts, closest buckets last.
    pub fn contacts(&self) -> Vec<NodeInfo> {
        self.routing
            .contacts()
            .into_iter()
            .map(|e| e.node)
            .collect()
    }

    /// Whether there are saved contacts to bootstrap from.
    pub fn has_seeds(&self) -> bool {
        !self.seeds.lock().is_empty()
    }

    /// Stops re-publishing the item `key`; whether it was published here.
    pub fn unpublish(&self, key: &Id) -> bool {
        self.published.lock().remove(key).is_some()
    }

    /// Gives back the memory that the transaction and operation tables kept from
    /// their busiest moment (hash tables never shrink by themselves). Maintenance
    /// calls it; the simulator also calls it when a node has joined, since a
    /// million idle tables sized for a bootstrap add up.
    ///
    /// Locks: each shard of the in-flight table, then of the operation table, one
    /// at a time.
    pub fn shrink_to_fit(&self) {
        self.in_flight.shrink_to_fit();
        self.ops.shrink_to_fit();
    }

    /// Records that the driver dropped an outgoing datagram.
    pub fn count_send_drop(&self) {
        self.counters.send_drops.fetch_add(1, Ordering::Relaxed);
    }

    /// When the node next wants [`Node::tick`] called (a query times out or stalls,
    /// or maintenance is due).
    pub fn next_deadline(&self) -> Time {
        Time::from_millis(self.next_deadline.load(Ordering::Relaxed))
    }

    fn want_tick_at(&self, at: Time) {
        self.next_deadline
            .fetch_min(at.as_millis(), Ordering::Relaxed);
    }

    /// Estimated bytes this node takes: its inline size plus the heap it owns
    /// (routing table, store, transaction and operation tables, re-published items,
    /// seeds), without allocator overhead. Hash tables count by capacity, a `DashMap`
    /// shard as the 128-byte cache line pair it is padded to; the store, whose
    /// internals are its own, is estimated from its counters. Takes the same locks as
    /// [`Node::stats`], one at a time.
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        /// A `DashMap` shard: a `RwLock<HashMap>` padded to 128 bytes.
        const SHARD: usize = 128;
        /// Bytes per stored entry besides its value: map slot (key, entry, control
        /// byte, at most 7/8 full) and eviction index node, rounded up.
        const STORE_ENTRY: usize = 160;
        fn table<K, V, S>(map: &DashMap<K, V, S>, shards: usize) -> usize
        where
            K: Eq + std::hash::Hash,
            S: std::hash::BuildHasher + Clone,
        {
            shards * SHARD + map.capacity() * (size_of::<(K, V)>() + 1)
        }
        // As `Node::with_rng` creates them.
        let shards = self.config.in_flight_shards.max(2).next_power_of_two();
        let in_flight: usize = table(&self.in_flight, shards)
            + self
                .in_flight
                .iter()
                .map(|p| p.datagram.len())
                .sum::<usize>();
        let ops = table(&self.ops, shards)
            + self.ops.len() * (size_of::<Lookup>() + self.config.lookup.max_candidates * 64);
        // A B-tree leaf holds 11 entries; count one per entry, generously.
        let published: usize = self
            .published
            .lock()
            .values()
            .map(|v| size_of::<(Id, Vec<u8>)>() + 16 + v.capacity())
            .sum();
        let announced = self.announced.lock().len() * (size_of::<(Id, Option<u16>)>() + 16);
        let store = self.store.stats();
        let store_bytes = if store.items + store.info_hashes > 0 {
            self.config.store.effective_shards() * SHARD
        } else {
            0
        } + (store.items + store.info_hashes) * STORE_ENTRY
            + store.bytes
            + store.peers * size_of::<(SocketAddr, Time)>();
        size_of::<Node>()
            + self.routing.heap_bytes()
            + self.limiter.heap_bytes()
            + store_bytes
            + in_flight
            + ops
            + published
            + announced
            + self.seeds.lock().capacity() * size_of::<NodeInfo>()
            + self.own_config_bytes()
            + self.external.heap_bytes()
    }

    /// The configuration's bytes if this node alone holds it, else none (shared
    /// ones are counted by whoever shares them).
    fn own_config_bytes(&self) -> usize {
        if Arc::strong_count(&self.config) > 1 {
            return 0;
        }
        std::mem::size_of::<NodeConfig>()
            + self.config.bootstrap.capacity() * std::mem::size_of::<SocketAddr>()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> NodeStats {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let store = self.store.stats();
        NodeStats {
            packets_in: load(&c.packets_in),
            packets_out: load(&c.packets_out),
            bytes_in: load(&c.bytes_in),
            bytes_out: load(&c.bytes_out),
            queries_in: METHODS
                .iter()
                .zip(&c.queries_in)
                .map(|(m, n)| (*m, load(n)))
                .collect(),
            responses_in: load(&c.responses_in),
            errors_in: load(&c.errors_in),
            malformed: load(&c.malformed),
            oversized: load(&c.oversized),
            rate_limited_ip: load(&c.rate_limited_ip),
            rate_limited_global: load(&c.rate_limited_global),
            bad_token: load(&c.bad_token),
            over_quota: load(&c.over_quota),
            refused: load(&c.refused),
            unmatched: load(&c.unmatched),
            timeouts: load(&c.timeouts),
            retries: load(&c.retries),
            in_flight_full: load(&c.in_flight_full),
            send_drops: load(&c.send_drops),
            ops_started: load(&c.ops_started),
            ops_done: load(&c.ops_done),
            in_flight: self.in_flight_len.load(Ordering::Relaxed),
            routing_table_size: self.routing.len(),
            items: store.items,
            info_hashes: store.info_hashes,
            stored_bytes: store.bytes,
            published: self.published.lock().len(),
            external_ip: self.external_ip(),
            id_conforms: self.id_conforms(),
        }
    }

    // ----------------------------------------------------------------------------
    // Incoming datagrams

    /// Handles one datagram from `from`: answers queries, advances the operations
    /// that answers belong to. Never panics, whatever the bytes.
    ///
    /// Queries pass the rate limiter ([`limits`]) before anything is done for them;
    /// one over the limit costs a zero-copy decode and a counter, nothing more.
    pub fn handle_datagram(&self, from: SocketAddr, data: &[u8], now: Time, out: &mut Output) {
        self.counters.packets_in.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_in
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if data.len() > self.config.max_datagram {
            self.counters.oversized.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let msg = match wire::decode(data) {
            Ok(msg) => msg,
            Err(error) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                if !self.config.read_only {
                    let tid = wire::query_tid(data);
                    if let Some(tid) = tid.filter(|_| self.admit(from, now)) {
                        let reason = error.to_string();
                        self.reply_error(
                            from,
                            tid,
                            wire::error_code::PROTOCOL,
                            reason.as_bytes(),
                            out,
                        );
                    }
                }
                return;
            }
        };
        match &msg.kind {
            MessageKind::Query(query) => self.on_query(from, &msg, query, now, out),
            MessageKind::Response(response) => self.on_response(from, &msg, response, now, out),
            MessageKind::Error(_) => self.on_error(from, &msg, now, out),
        }
    }

    fn on_query(
        &self,
        from: SocketAddr,
        msg: &Message<'_>,
        query: &Query<'_>,
        now: Time,
        out: &mut Output,
    ) {
        let slot = match query.method {
            QueryMethod::Ping => 0,
            QueryMethod::FindNode { .. } => 1,
            QueryMethod::GetPeers { .. } => 2,
            QueryMethod::AnnouncePeer { .. } => 3,
            QueryMethod::Get { .. } => 4,
            QueryMethod::Put(_) => 5,
            QueryMethod::Unknown { .. } => 6,
        };
        self.counters.queries_in[slot].fetch_add(1, Ordering::Relaxed);
        if self.config.read_only {
            // BEP 43: a read-only node answers no queries.
            return;
        }
        if !self.admit(from, now) {
            return;
        }
        if query.id != self.id {
            let outcome = self
                .routing
                .on_query(NodeInfo::new(query.id, from), now, msg.read_only);
            self.act_on_insert(outcome, now, out);
        }
        let mut answered = Answered::Response;
        let (sent, bytes) = {
            let before = out.datagram_count();
            out.send(from, |buf| {
                answered = rpc::answer(
                    &rpc::Context {
                        own_id: self.id,
                        routing: &self.routing,
                        store: &self.store,
                        tokens: &self.tokens,
                        version: &CLIENT_VERSION,
                    },
                    from,
                    msg,
                    query,
                    now,
                    buf,
                )
            });
            (out.datagram_count() - before, out.last_datagram().len())
        };
        self.count_sent(sent, bytes);
        if let Answered::Refused(reason) = answered {
            let counter = match reason {
                Refusal::BadToken => &self.counters.bad_token,
                Refusal::Quota => &self.counters.over_quota,
                Refusal::Invalid => &self.counters.refused,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether a query from `from` may be answered now (see [`limits`]); counts the
    /// refusal if not.
    fn admit(&self, from: SocketAddr, now: Time) -> bool {
        match self.limiter.admit(from.ip(), now) {
            Ok(()) => true,
            Err(limited) => {
                let counter = match limited {
                    Limited::PerIp => &self.counters.rate_limited_ip,
                    Limited::Global => &self.counters.rate_limited_global,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    fn on_response(
        &self,
        from: SocketAddr,
        msg: &Message<'_>,
        response: &Response<'_>,
        now: Time,
        out: &mut Output,
    ) {
        let Some(pending) = self.take_pending(from, msg.tid) else {
            return;
        };
        self.counters.responses_in.fetch_add(1, Ordering::Relaxed);
        if let Some(reported) = msg.ip {
            self.vote_external_ip(from, reported, out);
        }
        if pending.tries == 0 {
            // Karn's rule: a retried query's answer says nothing certain about RTT.
            self.rtt.sample(now.since(pending.sent));
        }
        let responder = NodeInfo::new(response.id, from);
        if response.id != self.id && !msg.read_only {
            let outcome = self.routing.on_response(responder, now);
            self.act_on_insert(outcome, now, out);
        }
        if let Some(op) = pending.op {
            self.advance_on_answer(op, &pending, responder, Some(response), now, out);
        }
    }

    fn on_error(&self, from: SocketAddr, msg: &Message<'_>, now: Time, out: &mut Output) {
        let Some(pending) = self.take_pending(from, msg.tid) else {
            return;
        };
        self.counters.errors_in.fetch_add(1, Ordering::Relaxed);
        if let Some(op) = pending.op {
            let queried = NodeInfo::new(pending.id.unwrap_or_default(), pending.to);
            self.advance_on_answer(op, &pending, queried, None, now, out);
        }
    }

    /// Removes the in-flight query `tid` if it was sent to `from`.
    fn take_pending(&self, from: SocketAddr, tid: &[u8]) -> Option<Pending> {
        let key = <[u8; 4]>::try_from(tid).ok().map(u32::from_be_bytes);
        let removed = key.and_then(|key| self.in_flight.remove_if(&key, |_, p| p.to == from));
        match removed {
            Some((_, pending)) => {
                self.in_flight_len.fetch_sub(1, Ordering::Relaxed);
                Some(pending)
            }
            None => {
                self.counters.unmatched.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Pings the contact the routing table wants checked before it evicts it.
    fn act_on_insert(&self, outcome: InsertOutcome, now: Time, out: &mut Output) {
        if let InsertOutcome::Ping(contact) = outcome {
            self.send_query(
                contact.addr,
                Some(contact.id),
                None,
                QueryMethod::Ping,
                now,
                out,
            );
        }
    }

    // ----------------------------------------------------------------------------
    // Outgoing queries

    /// Encodes and sends a query, recording it in flight. Returns false when the
    /// in-flight table is full (the query is not sent).
    fn send_query(
        &self,
        to: SocketAddr,
        id: Option<Id>,
        op: Option<OpId>,
        method: QueryMethod<'_>,
        now: Time,
        out: &mut Output,
    ) -> bool {
        if self.in_flight_len.load(Ordering::Relaxed) >= self.config.max_in_flight {
            self.counters.in_flight_full.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let tid = self.next_tid.fetch_add(1, Ordering::Relaxed);
        let tid_bytes = tid.to_be_bytes();
        let msg = Message {
            version: Some(&CLIENT_VERSION),
            read_only: self.config.read_only,
            ..Message::query(&tid_bytes, self.id, method)
        };
        out.send(to, |buf| msg.encode(buf));
        // Kept for a retry: one allocation of the exact size.
        let datagram = Box::<[u8]>::from(out.last_datagram());
        let deadline = now + self.rtt.timeout();
        self.count_sent(1, datagram.len());
        self.in_flight.insert(
            tid,
            Pending {
                to,
                id,
                op,
                sent: now,
                deadline,
                tries: 0,
                datagram,
            },
        );
        self.in_flight_len.fetch_add(1, Ordering::Relaxed);
        self.want_tick_at(deadline);
        true
    }

    fn count_sent(&self, datagrams: usize, bytes: usize) {
        self.counters
            .packets_out
            .fetch_add(datagrams as u64, Ordering::Relaxed);
        self.counters
            .bytes_out
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn reply_error(&self, to: SocketAddr, tid: &[u8], code: i64, message: &[u8], out: &mut Output) {
        let msg = Message {
            tid,
            version: Some(&CLIENT_VERSION),
            ip: None,
            read_only: false,
            kind: MessageKind::Error(wire::KrpcError { code, message }),
        };
        out.send(to, |buf| msg.encode(buf));
        self.count_sent(1, out.last_datagram().len());
    }

    // ----------------------------------------------------------------------------
    // Operations

    /// Starts an operation; its result comes later as [`Event::Done`] with this `op`
    /// (possibly already in `out`, e.g. [`OpError::NoRoute`]).
    pub fn start(&self, op: OpId, request: Request, now: Time, out: &mut Output) {
        self.counters.ops_started.fetch_add(1, Ordering::Relaxed);
        if self.ops.len() >= self.config.max_operations {
            self.finish(op, None, Err(OpError::Busy(self.ops.len())), out);
            return;
        }
        if let Request::Put(v) = &request {
            if let Err(error) = wire::bencode::validate(v) {
                let reason = format!("the value is not valid bencode: {error}");
                self.finish(op, None, Err(OpError::BadInput(reason)), out);
                return;
            }
            if v.len() > crate::store::MAX_VALUE_LEN {
                let reason = format!(
                    "a value is at most {} bytes bencoded, got {}",
                    crate::store::MAX_VALUE_LEN,
                    v.len()
                );
                self.finish(op, None, Err(OpError::BadInput(reason)), out);
                return;
            }
        }
        if let Request::Get(target) = &request {
            if let Some(v) = self.store.get_immutable(target, now) {
                // Held here already (this node is among the closest): no lookup.
                self.finish(op, None, Ok(Outcome::Value(Some(v.to_vec()))), out);
                return;
            }
        }
        let mut operation = Operation {
            request,
            phase: Phase::Ping,
            peers: Vec::new(),
            value: None,
            lookup: LookupStats::default(),
            sent: 0,
            tried_routers: false,
        };
        match &operation.request {
            &Request::Ping(addr) => {
                if !self.send_query(addr, None, Some(op), QueryMethod::Ping, now, out) {
                    self.finish(op, None, Err(OpError::Busy(self.config.max_in_flight)), out);
                    return;
                }
                operation.sent = 1;
                self.ops.insert(op, operation);
            }
            Request::Bootstrap => {
                self.maintenance.lock().bootstrap_op = Some(op);
                let mut seeds = Vec::new();
                self.routing
                    .closest(&self.id, self.lookup_seeds(), &mut seeds);
                seeds.extend(self.seeds.lock().iter().copied());
                if seeds.is_empty() {
                    operation.tried_routers = true;
                    operation.phase = Phase::Routers {
                        next: 0,
                        waiting: false,
                    };
                } else {
                    operation.phase = Phase::Lookup(Box::new(Lookup::new(
                        self.id,
                        self.id,
                        seeds,
                        self.config.lookup.clone(),
                    )));
                }
                self.ops.insert(op, operation);
                self.drive(op, now, out);
            }
            request => {
                let target = request_target(request);
                let mut seeds = Vec::new();
                self.routing
                    .closest(&target, self.lookup_seeds(), &mut seeds);
                if seeds.is_empty() {
                    seeds.extend(self.seeds.lock().iter().copied());
                }
                if seeds.is_empty() {
                    self.finish(op, None, Err(OpError::NoRoute), out);
                    return;
                }
                if let Request::Put(v) = request {
                    self.published.lock().insert(target, v.clone());
                }
                if let Request::Announce { info_hash, port } = request {
                    self.announced.lock().insert(*info_hash, *port);
                }
                operation.phase = Phase::Lookup(Box::new(Lookup::new(
                    target,
                    self.id,
                    seeds,
                    self.config.lookup.clone(),
                )));
                self.ops.insert(op, operation);
                self.drive(op, now, out);
            }
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
    fn drive(&self, op: OpId, now: Time, out: &mut Output) {
        let Some(mut entry) = self.ops.get_mut(&op) else {
            return;
        };
        let operation = entry.value_mut();
        let mut finished = None;
        let mut lookup_over = false;
        match &mut operation.phase {
            Phase::Ping => {}
            Phase::Routers { .. } => {
                finished = self.next_router(op, operation, now, out);
            }
            Phase::Lookup(lookup) => {
                let method = lookup_method(&operation.request, lookup.target());
                while let Some(node) = lookup.next_query(now) {
                    if self.send_query(node.addr, Some(node.id), Some(op), method, now, out) {
                        operation.sent += 1;
                    } else {
                        // The in-flight table is full: pace. The node stays a
                        // candidate and is asked once answers free some room.
                        lookup.unask(&node);
                        self.want_tick_at(now + IN_FLIGHT_RETRY);
                        break;
                    }
                }
                if let Some(at) = lookup.next_stall(now) {
                    self.want_tick_at(at);
                }
                if lookup.is_finished() {
                    operation.lookup = lookup.stats();
                    lookup_over = true;
                }
            }
            Phase::Storing {
                outstanding,
                acks,
                asked,
            } => {
                if *outstanding == 0 {
                    finished = Some(if *acks > 0 {
                        Ok(stored_outcome(&operation.request, *acks))
                    } else {
                        Err(OpError::NotStored { asked: *asked })
                    });
                }
            }
        }
        if lookup_over {
            finished = self.after_lookup(op, operation, now, out);
        }
        if let Some(result) = finished {
            let operation_stats = (operation.lookup, operation.sent);
            let joined = matches!(operation.request, Request::Bootstrap) && result.is_ok();
            drop(entry);
            self.ops.remove(&op);
            self.finish(op, Some(operation_stats), result, out);
            if joined {
                self.refresh_after_join(now, out);
            }
        }
    }

    /// The second half of Kademlia's join (section 2.3 of the paper), after the
    /// lookup of the own id: a lookup of a random id in each bucket farther than the
    /// closest neighbour, skipping full ones. Lookups of the own id stay near it, so
    /// without this a young network keeps blind spots: in one bootstrapped from a
    /// single seed, half the nodes on the seed's side of the keyspace knew no node
    /// on the other side, and a lookup started there for a target over there ended
    /// at the wrong eight nodes (a put stored where no get would look). The nodes
    /// these lookups ask learn of the joiner too. Runs in the background: the
    /// bootstrap has already reported. Off with [`NodeConfig::refresh_on_join`].
    fn refresh_after_join(&self, now: Time, out: &mut Output) {
        if !self.config.refresh_on_join {
            return;
        }
        // `bucket_lens` ends at the deepest non-empty bucket, the closest neighbour's.
        let lens = self.routing.bucket_lens();
        let farther = &lens[..lens.len().saturating_sub(1)];
        let mut rng = self.rng();
        for (bucket, &len) in farther.iter().enumerate() {
            if len < self.config.routing.k {
                let target = self.id.random_in_bucket(bucket, &mut rng);
                self.start(self.next_op_id(), Request::FindNode(target), now, out);
            }
        }
    }

    /// The lookup phase is over: produce the result, or start the store phase.
    fn after_lookup(
        &self,
        op: OpId,
        operation: &mut Operation,
        now: Time,
        out: &mut Output,
    ) -> Option<Result<Outcome, OpError>> {
        let Phase::Lookup(lookup) = &mut operation.phase else {
            return None;
        };
        let answered = lookup.closest_answered().count();
        let target = lookup.target();
        match &operation.request {
            Request::Bootstrap => {
                if answered == 0 && !operation.tried_routers && !self.config.bootstrap.is_empty() {
                    operation.tried_routers = true;
                    operation.phase = Phase::Routers {
                        next: 0,
                        waiting: false,
                    };
                    return self.next_router(op, operation, now, out);
                }
                if answered == 0 {
                    return Some(Err(OpError::Timeout));
                }
                Some(Ok(Outcome::Bootstrapped {
                    table_size: self.routing.len(),
                }))
            }
            Request::FindNode(_) => {
                if answered == 0 {
                    return Some(Err(OpError::Timeout));
                }
                Some(Ok(Outcome::Nodes(
                    lookup.closest_answered().map(|(n, _)| n).collect(),
                )))
            }
            Request::GetPeers(_) => {
                if answered == 0 && operation.peers.is_empty() {
                    return Some(Err(OpError::Timeout));
                }
                Some(Ok(Outcome::Peers(std::mem::take(&mut operation.peers))))
            }
            Request::Get(_) => {
                if answered == 0 && operation.value.is_none() {
                    return Some(Err(OpError::Timeout));
                }
                Some(Ok(Outcome::Value(operation.value.take())))
            }
            Request::Put(v) => {
                let targets = lookup.take_tokens();
                let sent = self.store_on(op, &targets, now, out, |token| {
                    QueryMethod::Put(PutArgs {
                        target: Some(target),
                        ..PutArgs::immutable(token, v)
                    })
                });
                Self::begin_storing(operation, answered, sent)
            }
            Request::Announce { info_hash, port } => {
                let targets = lookup.take_tokens();
                let sent =
                    self.store_on(op, &targets, now, out, |token| QueryMethod::AnnouncePeer {
                        info_hash: *info_hash,
                        port: port.unwrap_or(0),
                        implied_port: port.is_none(),
                        token,
                    });
                Self::begin_storing(operation, answered, sent)
            }
            Request::Ping(_) => None,
        }
    }

    /// Bootstrap: asks the next router in turn unless one is being asked, or fails
    /// when none is left.
    fn next_router(
        &self,
        op: OpId,
        operation: &mut Operation,
        now: Time,
        out: &mut Output,
    ) -> Option<Result<Outcome, OpError>> {
        let Phase::Routers { next, waiting } = &mut operation.phase else {
            return None;
        };
        if *waiting {
            return None;
        }
        while let Some(to) = self.config.bootstrap.get(*next).copied() {
            *next += 1;
            if self.send_query(
                to,
                None,
                Some(op),
                QueryMethod::FindNode { target: self.id },
                now,
                out,
            ) {
                *waiting = true;
                operation.sent += 1;
                return None;
            }
        }
        Some(Err(OpError::Timeout))
    }

    /// Sends the store queries of a put or announce to the nodes that gave a token;
    /// returns how many were sent.
    fn store_on<'a>(
        &self,
        op: OpId,
        targets: &'a [(NodeInfo, Box<[u8]>)],
        now: Time,
        out: &mut Output,
        method: impl Fn(&'a [u8]) -> QueryMethod<'a>,
    ) -> usize {
        let mut sent = 0;
        for (node, token) in targets {
            if self.send_query(node.addr, Some(node.id), Some(op), method(token), now, out) {
                sent += 1;
            }
        }
        sent
    }

    /// Moves a put or announce whose lookup found `answered` nodes, `sent` of which
    /// were sent the store query, into the store phase, or ends it.
    fn begin_storing(
        operation: &mut Operation,
        answered: usize,
        sent: usize,
    ) -> Option<Result<Outcome, OpError>> {
        if answered == 0 {
            return Some(Err(OpError::Timeout));
        }
        if sent == 0 {
            return Some(Err(OpError::NotStored { asked: 0 }));
        }
        operation.sent += sent as u32;
        operation.phase = Phase::Storing {
            outstanding: sent,
            acks: 0,
            asked: sent,
        };
        None
    }

    /// An answer (or, with `response` `None`, an error reply or a timeout) to a
    /// query of operation `op`.
    fn advance_on_answer(
        &self,
        op: OpId,
        pending: &Pending,
        responder: NodeInfo,
        response: Option<&Response<'_>>,
        now: Time,
        out: &mut Output,
    ) {
        {
            let Some(mut entry) = self.ops.get_mut(&op) else {
                return;
            };
            let operation = entry.value_mut();
            let queried = NodeInfo::new(pending.id.unwrap_or(responder.id), pending.to);
            match (&mut operation.phase, response) {
                (Phase::Ping, Some(r)) => {
                    let result = Ok(Outcome::Pong(r.id));
                    let stats = (operation.lookup, operation.sent);
                    drop(entry);
                    self.ops.remove(&op);
                    self.finish(op, Some(stats), result, out);
                    return;
                }
                (Phase::Ping, None) => {
                    let stats = (operation.lookup, operation.sent);
                    drop(entry);
                    self.ops.remove(&op);
                    self.finish(op, Some(stats), Err(OpError::Timeout), out);
                    return;
                }
                (Phase::Routers { .. }, Some(r)) => {
                    // A router answered: look up our id from what it knows.
                    let seeds = r
                        .nodes
                        .iter()
                        .flat_map(|n| n.iter())
                        .chain(std::iter::once(responder));
                    operation.phase = Phase::Lookup(Box::new(Lookup::new(
                        self.id,
                        self.id,
                        seeds,
                        self.config.lookup.clone(),
                    )));
                }
                (Phase::Routers { waiting, .. }, None) => *waiting = false,
                (Phase::Lookup(lookup), Some(r)) => {
                    let nodes = r
                        .nodes
                        .iter()
                        .flat_map(|n| n.iter())
                        .chain(r.nodes6.iter().flat_map(|n| n.iter()));
                    // Only a put or announce sends tokens back; the others need
                    // not keep a copy of each.
                    let wants_token = matches!(
                        operation.request,
                        Request::Put(_) | Request::Announce { .. }
                    );
                    lookup.on_response(&queried, nodes, r.token.filter(|_| wants_token));
                    match &operation.request {
                        Request::Get(target) => {
                            if let Some(v) = r.v {
                                if Id::sha1(v) == *target && operation.value.is_none() {
                                    operation.value = Some(v.to_vec());
                                    lookup.stop();
                                }
                            }
                        }
                        Request::GetPeers(_) => {
                            if let Some(values) = &r.values {
                                for peer in values.iter() {
                                    if operation.peers.len() < MAX_PEERS_PER_LOOKUP
                                        && !operation.peers.contains(&peer)
                                    {
                                        operation.peers.push(peer);
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
                (Phase::Lookup(lookup), None) => lookup.on_failure(&queried),
                (
                    Phase::Storing {
                        outstanding, acks, ..
                    },
                    r,
                ) => {
                    *outstanding = outstanding.saturating_sub(1);
                    if r.is_some() {
                        *acks += 1;
                    }
                }
            }
        }
        self.drive(op, now, out);
    }

    /// Reports an operation's end.
    fn finish(
        &self,
        op: OpId,
        stats: Option<(LookupStats, u32)>,
        outcome: Result<Outcome, OpError>,
        out: &mut Output,
    ) {
        self.counters.ops_done.fetch_add(1, Ordering::Relaxed);
        let (lookup, sent) = stats.unwrap_or_default();
        out.events.push(Event::Done {
            op,
            result: OpResult {
                outcome,
                lookup,
                sent,
            },
        });
    }

    // ----------------------------------------------------------------------------
    // Timers

    /// Handles everything due at `now`: query timeouts and retries, stalled lookups,
    /// and periodic maintenance (token rotation, store sweep, pings of questionable
    /// contacts, bucket refresh, re-publishing, re-bootstrap of an empty table).
    pub fn tick(&self, now: Time, out: &mut Output) {
        // Deadlines registered while we scan land in the fresh minimum.
        self.next_deadline
            .store(Time::NEVER.as_millis(), Ordering::Relaxed);
        let mut earliest = Time::NEVER;

        let mut expired = Vec::new();
        for entry in self.in_flight.iter() {
            if entry.deadline <= now {
                expired.push(*entry.key());
            } else {
                earliest = earliest.min(entry.deadline);
            }
        }
        // Map order depends on the hasher's random keys: sort, so that a seeded
        // run (the simulator) sends the same datagrams in the same order.
        expired.sort_unstable();
        for tid in expired {
            self.expire(tid, now, out, &mut earliest);
        }

        let mut ops: Vec<OpId> = self.ops.iter().map(|e| *e.key()).collect();
        ops.sort_unstable();
        for op in ops {
            self.drive(op, now, out);
        }

        earliest = earliest.min(self.maintain(now, out));
        self.want_tick_at(earliest);
    }

    fn expire(&self, tid: u32, now: Time, out: &mut Output, earliest: &mut Time) {
        // A query whose operation was cancelled is not worth sending again. Checked
        // before the in-flight entry is locked: the lock order is operation, then
        // in-flight, never the reverse.
        let op = self.in_flight.get(&tid).and_then(|p| p.op);
        let abandoned = op.is_some_and(|op| !self.ops.contains_key(&op));
        let retry = {
            let Some(mut pending) = self.in_flight.get_mut(&tid) else {
                return;
            };
            if pending.deadline > now {
                return;
            }
            if pending.tries < self.config.max_retries && !abandoned {
                pending.tries += 1;
                // Back off: each retry waits twice as long as the one before.
                let wait = self.rtt.timeout() * (1u32 << pending.tries.min(4));
                pending.deadline = now + wait;
                *earliest = (*earliest).min(pending.deadline);
                out.send(pending.to, |buf| buf.extend_from_slice(&pending.datagram));
                Some(pending.datagram.len())
            } else {
                None
            }
        };
        if let Some(len) = retry {
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            self.count_sent(1, len);
            return;
        }
        let Some((_, pending)) = self.in_flight.remove(&tid) else {
            return;
        };
        self.in_flight_len.fetch_sub(1, Ordering::Relaxed);
        self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
        if let Some(id) = pending.id {
            if let TimeoutOutcome::Ping(candidate) = self.routing.on_timeout(&id, now) {
                self.send_query(
                    candidate.addr,
                    Some(candidate.id),
                    None,
                    QueryMethod::Ping,
                    now,
                    out,
                );
            }
        }
        if let Some(op) = pending.op {
            let queried = NodeInfo::new(pending.id.unwrap_or_default(), pending.to);
            self.advance_on_answer(op, &pending, queried, None, now, out);
        }
    }

    /// Periodic work; returns when it is next due.
    fn maintain(&self, now: Time, out: &mut Output) -> Time {
        let mut m = self.maintenance.lock();
        let mut start = Vec::new();

        // Re-bootstrap when the table has emptied (an outage), with backoff.
        let bootstrapping = m.bootstrap_op.is_some_and(|op| self.ops.contains_key(&op));
        if !bootstrapping {
            m.bootstrap_op = None;
        }
        if self.routing.is_empty()
            && !bootstrapping
            && now >= m.next_rebootstrap
            && (!self.config.bootstrap.is_empty() || self.has_seeds())
        {
            let op = self.next_op_id();
            m.bootstrap_op = Some(op);
            m.next_rebootstrap = now + m.rebootstrap_backoff;
            m.rebootstrap_backoff = (m.rebootstrap_backoff * 2).min(self.config.rebootstrap_max);
            start.push((op, Request::Bootstrap));
        } else if !self.routing.is_empty() {
            m.rebootstrap_backoff = self.config.rebootstrap_min;
        }

        if now >= m.next_run {
            m.next_run = now + self.config.maintenance_interval;
            self.tokens.maybe_rotate(now, &mut self.rng());
            self.store.sweep(now);
            self.shrink_to_fit();
            for contact in self.routing.questionable(now) {
                self.send_query(
                    contact.addr,
                    Some(contact.id),
                    None,
                    QueryMethod::Ping,
                    now,
                    out,
                );
            }
        }
        if now >= m.next_refresh_check {
            m.next_refresh_check = now + self.config.refresh_interval / 4;
            let mut rng = self.rng();
            for bucket in self
                .routing
                .buckets_to_refresh(now, self.config.refresh_interval)
            {
                let target = self.id.random_in_bucket(bucket, &mut rng);
                start.push((self.next_op_id(), Request::FindNode(target)));
            }
        }
        if now >= m.next_republish {
            m.next_republish = now + self.config.republish_interval;
            // Copied out: `start` takes the maps' locks again.
            let items: Vec<Vec<u8>> = self.published.lock().values().cloned().collect();
            for v in items {
                start.push((self.next_op_id(), Request::Put(v)));
            }
            let announces: Vec<(Id, Option<u16>)> = self
                .announced
                .lock()
                .iter()
                .map(|(k, v)| (*k, *v))
                .collect();
            for (info_hash, port) in announces {
                start.push((self.next_op_id(), Request::Announce { info_hash, port }));
            }
        }
        let next = m
            .next_run
            .min(m.next_refresh_check)
            .min(m.next_republish)
            .min(
                // Only a re-bootstrap still to come is a deadline: one running
                // now (or due in the past) would make the driver tick at once,
                // again and again.
                if self.routing.is_empty() && m.bootstrap_op.is_none() && m.next_rebootstrap > now {
                    m.next_rebootstrap
                } else {
                    Time::NEVER
                },
            );
        drop(m);
        for (op, request) in start {
            self.start(op, request, now, out);
        }
        next
    }
}

/// How soon a lookup paced by a full in-flight table tries again.
const IN_FLIGHT_RETRY: std::time::Duration = std::time::Duration::from_millis(5);

/// Most peers one `get_peers` lookup collects.
const MAX_PEERS_PER_LOOKUP: usize = 256;

/// The id an operation looks up (bootstrap and ping look up none; bootstrap's
/// lookup targets the own id, set where it starts).
fn request_target(request: &Request) -> Id {
    match request {
        Request::FindNode(t) | Request::GetPeers(t) | Request::Get(t) => *t,
        Request::Announce { info_hash, .. } => *info_hash,
        Request::Put(v) => Id::sha1(v),
        Request::Bootstrap | Request::Ping(_) => Id::ZERO,
    }
}

/// The query a lookup for `request` sends to each node.
fn lookup_method(request: &Request, target: Id) -> QueryMethod<'static> {
    match request {
        Request::GetPeers(_) | Request::Announce { .. } => {
            QueryMethod::GetPeers { info_hash: target }
        }
        Request::Get(_) | Request::Put(_) => QueryMethod::Get { target, seq: None },
        _ => QueryMethod::FindNode { target },
    }
}

fn stored_outcome(request: &Request, acks: usize) -> Outcome {
    match request {
        Request::Announce { .. } => Outcome::Announced { stored: acks },
        _ => Outcome::Stored {
            key: request_target(request),
            stored: acks,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::time::Duration;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn node_with_router(router: SocketAddr) -> Node {
        let config = NodeConfig {
            bootstrap: vec![router],
            ..NodeConfig::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        Node::with_rng(Id::random_with(&mut rng), config, Time::ZERO, &mut rng)
    }

    /// Ticks the node at its deadlines until `until`, counting datagrams per
    /// destination.
    fn run_silent(node: &Node, until: Time, out: &mut Output) -> (Vec<Time>, Vec<Event>) {
        let mut sends = Vec::new();
        let mut events = Vec::new();
        let mut now = Time::ZERO;
        while now < until {
            node.tick(now, out);
            for _ in out.datagrams() {
                sends.push(now);
            }
            events.append(&mut out.events);
            out.clear();
            now = node.next_deadline().max(now + Duration::from_millis(1));
        }
        (sends, events)
    }

    /// An encoded ping from `id` with transaction id `tid`.
    fn ping_from(id: Id, tid: &[u8]) -> Vec<u8> {
        let msg = Message::query(tid, id, QueryMethod::Ping);
        let mut buf = Vec::new();
        msg.encode(&mut buf);
        buf
    }

    /// The replies (responses and errors) in `out`, decoded: the node may also send
    /// queries of its own (a ping to a new contact).
    fn replies(out: &Output) -> Vec<MessageKind<'_>> {
        out.datagrams()
            .filter_map(|(_, d)| wire::decode(d).ok())
            .map(|m| m.kind)
            .filter(|k| !matches!(k, MessageKind::Query(_)))
            .collect()
    }

    #[test]
    fn queries_over_the_per_ip_rate_are_dropped_and_counted() {
        let node = node_with_router(addr(9));
        let limits = node.config().rate_limit.clone();
        let mut out = Output::new();
        let busy = SocketAddr::from(([203, 0, 113, 7], 6881));
        let ping = ping_from(Id::sha1(b"busy"), b"aa");
        for _ in 0..1_000 {
            node.handle_datagram(busy, &ping, Time::ZERO, &mut out);
        }
        let answered = replies(&out).len();
        assert_eq!(answered, limits.per_ip_burst as usize);
        let stats = node.stats();
        assert_eq!(stats.rate_limited_ip, 1_000 - answered as u64);
        assert_eq!(stats.queries_in[0], ("ping", 1_000));
        // Another source is answered; so is this one once its bucket refills.
        out.clear();
        let other = SocketAddr::from(([198, 51, 100, 1], 6881));
        node.handle_datagram(other, &ping, Time::ZERO, &mut out);
        node.handle_datagram(busy, &ping, Time::from_millis(1_000), &mut out);
        assert_eq!(replies(&out).len(), 2);
        // Malformed queries from the busy source get no error reply while it is
        // over its rate.
        out.clear();
        for _ in 0..1_000 {
            node.handle_datagram(
                busy,
                b"d1:t2:aa1:y1:q1:q4:pinge",
                Time::from_millis(1_000),
                &mut out,
            );
        }
        // A second's refill, less the ping above.
        assert_eq!(replies(&out).len(), limits.per_ip_rate as usize - 1);
        assert_eq!(node.stats().malformed, 1_000);
    }

    #[test]
    fn oversized_datagrams_are_dropped_unread() {
        let node = node_with_router(addr(9));
        let mut out = Output::new();
        let big = vec![b'x'; node.config().max_datagram + 1];
        node.handle_datagram(addr(7), &big, Time::ZERO, &mut out);
        assert_eq!(out.datagram_count(), 0);
        let stats = node.stats();
        assert_eq!((stats.oversized, stats.malformed), (1, 0));
    }

    #[test]
    fn a_put_without_a_valid_token_is_refused_and_counted() {
        let node = node_with_router(addr(9));
        let mut out = Output::new();
        let v = b"5:hello";
        let msg = Message::query(
            b"pp",
            Id::sha1(b"spoofer"),
            QueryMethod::Put(PutArgs::immutable(b"forged", v)),
        );
        let mut datagram = Vec::new();
        msg.encode(&mut datagram);
        node.handle_datagram(addr(7), &datagram, Time::ZERO, &mut out);
        let replies = replies(&out);
        let [MessageKind::Error(e)] = replies.as_slice() else {
            panic!("one error reply expected, got {replies:?}")
        };
        assert_eq!(e.code, wire::error_code::PROTOCOL);
        assert_eq!(node.stats().bad_token, 1);
        assert_eq!(node.store().stats().items, 0);
        assert!(node
            .store()
            .get_immutable(&Id::sha1(v), Time::ZERO)
            .is_none());
    }

    #[test]
    fn dead_router_gives_timeout_after_retry() {
        let node = node_with_router(addr(9));
        let mut out = Output::new();
        let op = node.next_op_id();
        node.start(op, Request::Bootstrap, Time::ZERO, &mut out);
        assert_eq!(out.datagram_count(), 1, "one find_node to the router");
        out.clear();
        let (sends, events) = run_silent(&node, Time::from_millis(20_000), &mut out);
        let done: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Done { op: o, result } => (*o == op).then_some(result),
                Event::ExternalIp { .. } => None,
            })
            .collect();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].outcome, Err(OpError::Timeout));
        assert!(
            !sends.is_empty(),
            "the query was sent again before giving up"
        );
        // Re-bootstrap attempts on the empty table add more of the same.
        assert!(node.stats().timeouts >= 1);
        assert!(node.stats().retries >= u64::from(node.config().max_retries));
    }

    #[test]
    fn empty_table_rebootstraps_with_backoff() {
        let node = node_with_router(addr(9));
        let mut out = Output::new();
        let (sends, _) = run_silent(&node, Time::from_millis(120_000), &mut out);
        // Each attempt sends the query and its retry; attempts start further and
        // further apart.
        let attempts: Vec<Time> = sends.iter().copied().step_by(2).collect();
        assert!(attempts.len() >= 4, "re-bootstrap attempts: {attempts:?}");
        let gaps: Vec<u64> = attempts
            .windows(2)
            .map(|w| w[1].as_millis() - w[0].as_millis())
            .collect();
        assert!(
            gaps.windows(2).all(|g| g[1] >= g[0]),
            "backoff never shrinks: {gaps:?}"
        );
        assert!(gaps.last() > gaps.first(), "backoff grows: {gaps:?}");
    }

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
                Event::ExternalIp { .. } => false,
            };
            assert!(bad_input, "{event:?}");
        }
    }
}
