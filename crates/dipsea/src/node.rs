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
//! feed one node at once. Lock order: the maintenance mutex, then an operation's
//! shard, then an in-flight shard, never the reverse; routing and store locks are
//! leaves, never held while another is taken (`docs/design.md` has the details).
//!
//! Where each part lives (one concept per file; `docs/design.md` has the full map):
//!
//! - this file: the [`Node`] struct, its constructor and small accessors;
//! - `dispatch`: incoming datagrams, queries answered, answers matched;
//! - `transactions`: the in-flight table (send a query, match its answer, retry,
//!   time out);
//! - `operation` (and one file per kind under `operation/`): the phases a user
//!   operation goes through, from [`Node::start`] to [`Event::Done`];
//! - `broadcast`: the `dipsea_bcast` query received, delivered and forwarded, and
//!   [`Node::broadcast`];
//! - `subscribe`: `dipsea_sub` and `dipsea_notify`, the subscriptions held for
//!   others and our own ([`Node::add_subscription`]);
//! - `maintenance`: [`Node::tick`]'s periodic jobs (refresh, re-publish, re-bootstrap,
//!   the refresh after a join);
//! - [`stats`]: counters and [`NodeStats`]; [`ops`]: requests and their results;
//!   [`state`]: the saved routing table's format; [`udp`]: the tokio driver.

mod broadcast;
pub mod config;
mod dispatch;
#[cfg(test)]
mod dual_stack_tests;
pub mod ip_vote;
mod lazy;
pub mod limits;
mod maintenance;
pub mod network;
mod onehop;
mod operation;
pub mod ops;
pub mod output;
pub mod rtt;
mod size;
pub mod state;
pub mod stats;
mod subscribe;
#[cfg(test)]
mod test_support;
mod transactions;
pub mod udp;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

pub use broadcast::{BroadcastStats, MAX_SPEAKERS};
pub use config::{ConfigOption, NodeConfig, OptionKind, CLIENT_VERSION};
pub use limits::RateLimitConfig;
pub use network::{NetworkId, NETWORK_ID_LEN};
pub use ops::{
    InfohashSamples, MutablePut, MutableStored, MutableValue, OpError, OpId, OpResult, Outcome,
    PutResult, Request, ScrapeEstimate,
};
pub use output::{Event, Output};
pub use stats::{NodeStats, QueryCounts};

use crate::id::{Id, NodeInfo};
use crate::routing::RoutingTable;
use crate::rpc::signature::SignatureCache;
use crate::rpc::token::Tokens;
use crate::rpc::SampleLimiter;
use crate::store::{MutableItem, Store};
use crate::time::Time;
use ip_vote::ExternalIp;
use limits::RateLimiter;
use maintenance::Maintenance;
use operation::Operation;
use rtt::RttEstimator;
use stats::Counters;
use transactions::Pending;

/// Hasher of the transaction and operation tables. Their keys are ours (transaction
/// ids we chose, operation ids we count), never a peer's choice, so a fixed-key
/// hasher cannot be flooded; and fixed keys give a seeded run the same table layout,
/// hence the same memory figures, every time (the simulator compares them).
type FixedState = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

/// A DHT node's protocol logic and shared state, driven from outside.
#[derive(Debug)]
pub struct Node {
    id: Id,
    /// Shared by the nodes built from one `Arc` (a simulator's million nodes).
    config: Arc<NodeConfig>,
    routing: RoutingTable,
    /// The IPv6 table of a dual-stack node (BEP 32: one table per family); `routing`
    /// then holds the IPv4 contacts. `None` on a single-family node, whose one table
    /// holds its family's contacts.
    routing6: Option<Box<RoutingTable>>,
    store: Store,
    /// BEP 44 signatures this node verified lately: each checked once.
    signatures: SignatureCache,
    tokens: Tokens,
    /// `None` when the rate limits are off (a simulator's nodes): 8 bytes, not 104.
    limiter: Option<Box<RateLimiter>>,
    /// Who had a BEP 51 sample lately.
    samples: SampleLimiter,
    /// The network size judged from our lookups.
    size: size::SizeEstimate,
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
    /// Announces this node made: info-hash → port and seed flag, re-announced (as `published`).
    announced: Mutex<BTreeMap<Id, (Option<u16>, bool)>>,
    /// Mutable items this node put: target → the signed version, re-published as is
    /// (as `published`).
    published_mutable: Mutex<BTreeMap<Id, MutableItem>>,
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
    /// Broadcasts received and handed off, see `broadcast`.
    broadcasts: broadcast::Broadcasts,
    /// Subscriptions held for others and our own, see `subscribe`.
    subscriptions: lazy::Lazy<subscribe::Subscriptions>,
    /// The one-hop overlay's member table and timers, on a one-hop node
    /// ([`NodeConfig::overlay`]); see `onehop`.
    onehop: Option<Box<onehop::OneHop>>,
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
    ///
    /// A one-hop node ([`NodeConfig::overlay`]) draws its member key from `rng`
    /// too, and its id is SHA-1 of that key's public half (so that its signed
    /// membership announcements prove the id): `id` is not used.
    pub fn with_rng<R: RngCore + ?Sized>(
        id: Id,
        config: impl Into<Arc<NodeConfig>>,
        now: Time,
        rng: &mut R,
    ) -> Node {
        let config: Arc<NodeConfig> = config.into();
        let (id, onehop) = match &config.overlay {
            crate::onehop::Overlay::Kademlia => (id, None),
            crate::onehop::Overlay::OneHop(onehop) => {
                let (key, member) = onehop::new_member_key(rng);
                let state = onehop::OneHop::new(onehop.clone(), key, now);
                (member, Some(Box::new(state)))
            }
        };
        let shards = config.in_flight_shards.max(2).next_power_of_two();
        // A one-hop node starts its join at its first tick.
        let first_tick = match onehop {
            Some(_) => now,
            None => now + config.maintenance_interval,
        };
        Node {
            id,
            routing: RoutingTable::new(id, config.routing.clone()),
            routing6: config
                .dual_stack
                .then(|| Box::new(RoutingTable::new(id, config.routing.clone()))),
            store: Store::new(id, config.store.clone()),
            signatures: SignatureCache::new(),
            tokens: Tokens::random(rng, now),
            limiter: config
                .rate_limit
                .enabled
                .then(|| Box::new(RateLimiter::new(config.rate_limit.clone(), now))),
            size: size::SizeEstimate::default(),
            samples: SampleLimiter::new(
                config.rate_limit.enabled,
                config.rate_limit.limit_loopback,
            ),
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
            published_mutable: Mutex::new(BTreeMap::new()),
            seeds: Mutex::new(Vec::new()),
            maintenance: Mutex::new(Maintenance::new(&id, now, &config)),
            next_deadline: AtomicU64::new(first_tick.as_millis()),
            counters: Counters::default(),
            rng_seed: AtomicU64::new(rng.next_u64()),
            external: ExternalIp::default(),
            broadcasts: broadcast::Broadcasts::new(),
            subscriptions: lazy::Lazy::new(),
            onehop,
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

    /// The IPv6 routing table of a dual-stack node ([`NodeConfig::dual_stack`]);
    /// [`Node::routing`] is then the IPv4 one.
    pub fn routing6(&self) -> Option<&RoutingTable> {
        self.routing6.as_deref()
    }

    /// The routing table that holds contacts at `addr`: the IPv6 one for an IPv6
    /// address on a dual-stack node, else the one table.
    fn table_for(&self, addr: &SocketAddr) -> &RoutingTable {
        match &self.routing6 {
            Some(v6) if addr.is_ipv6() => v6,
            _ => &self.routing,
        }
    }

    /// The routing tables: the one table, or the IPv4 and IPv6 ones.
    fn tables(&self) -> impl Iterator<Item = &RoutingTable> {
        std::iter::once(&self.routing).chain(self.routing6.as_deref())
    }

    /// Contacts in all routing tables.
    pub fn table_len(&self) -> usize {
        self.tables().map(RoutingTable::len).sum()
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
        // Kept for as long as the node runs (a re-bootstrap after an outage), and
        // usually one or a few: no room for more (a simulated node joins through one).
        seeds.shrink_to_fit();
    }

    /// The routing table's contacts, closest buckets last.
    pub fn contacts(&self) -> Vec<NodeInfo> {
        self.tables()
            .flat_map(|t| t.contacts())
            .map(|e| e.node)
            .collect()
    }

    /// Whether there are saved contacts to bootstrap from.
    pub fn has_seeds(&self) -> bool {
        !self.seeds.lock().is_empty()
    }

    /// Stops re-publishing the item `key` (an immutable item's key or a mutable
    /// item's target); whether it was published here.
    pub fn unpublish(&self, key: &Id) -> bool {
        let immutable = self.published.lock().remove(key).is_some();
        let mutable = self.published_mutable.lock().remove(key).is_some();
        immutable || mutable
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

    /// When the node next wants [`Node::tick`] called (a query times out or stalls,
    /// or maintenance is due).
    pub fn next_deadline(&self) -> Time {
        Time::from_millis(self.next_deadline.load(Ordering::Relaxed))
    }

    fn want_tick_at(&self, at: Time) {
        // SeqCst: see `Node::tick`.
        self.next_deadline
            .fetch_min(at.as_millis(), Ordering::SeqCst);
    }
}
