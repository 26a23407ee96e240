//! The deterministic simulator: many instances of the very same sans-I/O [`Node`]
//! logic as the UDP driver, on a seeded, virtual-time network.
//!
//! Entry point: [`Swarm`]. [`Swarm::new`] builds a network of
//! [`SwarmConfig::nodes`] nodes by real joins (each new node bootstraps from a random
//! node already in: a `find_node` of its own id to it, then the lookup of its own
//! id); the scenario methods then run puts, gets, announces and lookups from chosen
//! or random nodes ([`Swarm::put`], [`Swarm::get_from`], [`Swarm::run_batch`], ...),
//! inject faults ([`Swarm::crash`], [`Swarm::partition`], [`Swarm::set_loss`],
//! [`Swarm::set_churn`], [`Swarm::schedule`]), move virtual time on
//! ([`Swarm::advance`]: maintenance, refresh, re-publishing, churn) and read metrics
//! ([`Swarm::stats`]).
//!
//! ```
//! use dipsea::{Swarm, SwarmConfig};
//!
//! let config = SwarmConfig { nodes: 200, seed: 7, ..SwarmConfig::default() };
//! let mut swarm = Swarm::new(config).expect("a valid configuration");
//! let put = swarm.put(b"hello").expect("put");
//! assert_eq!(swarm.get(put.key).expect("get").as_deref(), Some(&b"hello"[..]));
//! assert_eq!(swarm.stats().success_rate, 1.0);
//! ```
//!
//! # The network
//!
//! One event queue ordered by (virtual time, sequence number): datagram deliveries,
//! node timer ticks (each node's tick is scheduled at its [`Node::next_deadline`]
//! after every call into it), churn and scheduled actions. The deliveries and ticks
//! due within the shortest link latency of each other cannot affect one another
//! across nodes, so they run as one window, their calls spread over
//! [`SwarmConfig::threads`] by node, and what the calls sent and reported is applied
//! in queue order (module `window`); churn and actions run alone. The result does not
//! depend on the number of threads.
//! Node `i` lives at the virtual address `127.x.y.z:6881` with `x.y.z` = `i + 1`
//! (never sent anywhere). Each link has its own latency from the [`Latency`] model;
//! each datagram is lost with probability [`SwarmConfig::loss`]; a partition drops
//! every datagram between its two groups. Every random choice (ids, losses, which
//! nodes crash, node token secrets and refresh targets via [`Node::with_rng`]) comes
//! from one generator seeded by [`SwarmConfig::seed`] (drawn on the calling thread,
//! in queue order), so a run is reproducible exactly: the same seed and the same
//! calls give the same [`SwarmStats`] (wall-clock fields aside), on any number of
//! threads.
//!
//! # Overlays and subscriptions
//!
//! The nodes run Kademlia by default; [`SwarmConfig::set_overlay`] makes them one-hop
//! nodes ([`Overlay::OneHop`]: full membership, requests straight to a key's
//! owners) on a private network. Subscriptions to a mutable item or to an
//! info-hash's peers, and what each subscriber was delivered, are in
//! [`Swarm::subscribe_from`], [`Swarm::subscribe_peers_from`],
//! [`Swarm::take_updates`] and [`Swarm::take_peer_updates`].
//!
//! # Memory
//!
//! A crashed or departed node's state is freed at once; what stays per node ever
//! created is 32 bytes: its empty slot and the simulator's bookkeeping. See [`Swarm::memory_per_node`] for how the
//! per-node figure is accounted.

mod broadcast;
mod flight;
mod latency;
mod metrics;
pub mod onehop;
mod queue;
mod subscribe;
mod window;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub use broadcast::BroadcastReport;
pub use latency::Latency;
pub use metrics::SwarmStats;
use metrics::{quantile, Metrics};
pub use onehop::{OneHopConfig, OneHopStats, OneHopSwarm};
use queue::Queue;
pub use subscribe::{Delivery, PeerDelivery};

use crate::error::Error;
use crate::id::{Id, NodeInfo};
use crate::node::ops::typed;
use crate::node::NetworkId;
use crate::node::{
    Event, Node, NodeConfig, OpError, OpId, OpResult, Outcome, Output, PutResult, Request,
};
use crate::onehop::Overlay;
use crate::push::AcceptPolicy;
use crate::time::Time;
use crate::wire::bencode;

/// The UDP port of every virtual node.
pub const SIM_PORT: u16 = 6881;

/// Most nodes a swarm can address: `127.x.y.z` leaves 24 bits.
pub const MAX_NODES: usize = (1 << 24) - 2;

/// Bootstraps a joining node tries (each after the first through another random
/// node) before it counts as joined with whatever table it has.
const MAX_JOIN_ATTEMPTS: u8 = 4;

/// The private network the nodes of a one-hop swarm are members of when none is
/// named ([`SwarmConfig::set_overlay`]).
pub const SIM_NETWORK: &str = "sim-cluster";

/// How long [`Swarm::run_batch`] waits, in virtual time, for an operation before
/// reporting it as timed out. Lookups end well before (every query has a timeout),
/// so this only guards against an operation that never ends.
pub const OP_DEADLINE: Duration = Duration::from_secs(10 * 60);

/// How a [`Swarm`] is built.
#[derive(Clone, Debug)]
pub struct SwarmConfig {
    /// Nodes to build the network with (default 1000).
    pub nodes: usize,
    /// Seed of every random choice (default 0).
    pub seed: u64,
    /// Link latency model (default uniform 10–100 ms).
    pub latency: Latency,
    /// Probability that a datagram is lost (default 0.0), during the build too.
    pub loss: f64,
    /// Configuration of every node (default [`SwarmConfig::default_node_config`]).
    /// Its `bootstrap` list is replaced per node by the node it joins through.
    pub node: NodeConfig,
    /// Most joins in progress at once while building (default 4096; also bounded by
    /// the nodes already in). More is faster in virtual time; fewer keeps the
    /// network closer to one grown node by node.
    pub join_concurrency: usize,
    /// Threads that run the nodes' calls (default: the machine's cores, at most
    /// 8). The result of a run does not depend on it: see the module docs'
    /// "The network".
    pub threads: usize,
}

impl Default for SwarmConfig {
    fn default() -> Self {
        SwarmConfig {
            nodes: 1000,
            seed: 0,
            latency: Latency::default(),
            loss: 0.0,
            node: SwarmConfig::default_node_config(),
            join_concurrency: 4096,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(8)),
        }
    }
}

impl SwarmConfig {
    /// The node configuration a simulated node uses by default: the protocol
    /// defaults (k = 8, alpha = 3, BEP 5 timers, 2 h item lifetime, hourly
    /// re-publishing), with the fewest lock shards and no per-bucket routing locks
    /// (one thread drives every node, and each shard costs memory a million times
    /// over) and query timeouts for a network whose one-way latency stays under
    /// 125 ms (floor 250 ms, ceiling 2 s).
    /// Rate limits are off: simulated peers are honest, and the limiter's per-IP
    /// table would cost memory a million times over. The bucket refresh after
    /// joining is off: each simulated node joins through a random live node, not
    /// one seed, so the blind spots it guards against do not form, and it costs
    /// several lookups per join (a 10,000-node build took 7 times as long) and fills
    /// every table (2.6 times the memory per node), which a million nodes cannot
    /// afford. Set `node.refresh_on_join` to simulate it. (The gaps that joins
    /// through random nodes still leave, which made one get in a few thousand miss,
    /// are filled by pinging nodes heard of for empty buckets:
    /// [`crate::routing::RoutingTable::on_heard`].)
    /// Housekeeping stays every minute: it also shrinks each node's in-flight and
    /// operation tables, and with it every 225 s instead (a quarter of the ticks)
    /// a 20,000-node `dipsea swarm --ops 8000` peaked 12% higher (231,392 KiB
    /// against 205,620), the tables of every node that had sent a ping left at
    /// their largest.
    pub fn default_node_config() -> NodeConfig {
        let mut config = NodeConfig {
            in_flight_shards: 2,
            refresh_on_join: false,
            rate_limit: crate::node::limits::RateLimitConfig::unlimited(),
            timeout_initial: Duration::from_secs(1),
            timeout_floor: Duration::from_millis(250),
            timeout_ceiling: Duration::from_secs(2),
            ..NodeConfig::default()
        };
        config.store.shards = 2;
        // Every bucket in one vector sized to what it holds (`RoutingConfig::
        // sharded_buckets`): one thread drives every node, so per-bucket locks buy
        // nothing, and their fixed arrays were most of a simulated node's memory.
        config.routing.sharded_buckets = 0;
        config
    }

    /// Checks the configuration: 1 to [`MAX_NODES`] nodes, `loss` between 0 and 1,
    /// at least one join at a time, a latency range whose low end is not above its
    /// high end, and [`NodeConfig::validate`]. [`Swarm::new`] calls it first.
    ///
    /// Errors: [`Error::BadInput`] saying which setting is out of range.
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=MAX_NODES).contains(&self.nodes) {
            return Err(Error::BadInput(format!(
                "nodes must be between 1 and {MAX_NODES}, got {}",
                self.nodes
            )));
        }
        fraction("loss", self.loss)?;
        if !(1..=64).contains(&self.threads) {
            return Err(Error::BadInput(format!(
                "threads must be between 1 and 64, got {}",
                self.threads
            )));
        }
        if self.join_concurrency == 0 {
            return Err(Error::BadInput(
                "join_concurrency must be at least 1, got 0".into(),
            ));
        }
        let (low, high) = match self.latency {
            Latency::Constant(_) => (Duration::ZERO, Duration::ZERO),
            Latency::Uniform { min, max } => (min, max),
            Latency::LongTail { median, p99 } => (median, p99),
        };
        if low > high {
            return Err(Error::BadInput(format!(
                "the latency's low end ({low:?}) is above its high end ({high:?})"
            )));
        }
        self.node.validate()
    }
}

impl SwarmConfig {
    /// Makes every node run `overlay`, as a member of the private network called
    /// `network` when one is named (any overlay).
    ///
    /// A one-hop node needs a private network and must accept broadcasts
    /// ([`NodeConfig::validate`]): membership travels by signed broadcasts. So for
    /// [`Overlay::OneHop`] this also names the network [`SIM_NETWORK`] when neither
    /// `network` nor `node.network` names one, and opens `node.broadcast.accept` to
    /// [`AcceptPolicy::Open`] when it is off (the simulated members are honest);
    /// a policy already set is kept. What the bindings' swarm constructors call, so
    /// that every front end builds a one-hop swarm the same way.
    ///
    /// Errors: [`Error::BadInput`] for a network name that is empty or over 255
    /// bytes ([`NetworkId::from_name`]); the configuration is unchanged then.
    pub fn set_overlay(&mut self, overlay: Overlay, network: Option<&str>) -> Result<(), Error> {
        let network = network.map(NetworkId::from_name).transpose()?;
        if let Some(network) = network {
            self.node.network = Some(network);
        }
        if matches!(overlay, Overlay::OneHop(_)) {
            if self.node.network.is_none() {
                self.node.network = Some(NetworkId::from_name(SIM_NETWORK)?);
            }
            if self.node.broadcast.accept == AcceptPolicy::Off {
                self.node.broadcast.accept = AcceptPolicy::Open;
            }
        }
        self.node.overlay = overlay;
        Ok(())
    }
}

/// `value` if it is a fraction between 0 and 1 (inclusive), else [`Error::BadInput`]
/// naming it: the one check of every probability and fraction the simulator takes
/// (public so that front ends can check an argument before a long build).
pub fn fraction(name: &str, value: f64) -> Result<f64, Error> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(Error::BadInput(format!(
            "{name} must be between 0 and 1, got {value}"
        )))
    }
}

/// A node's lifecycle in the swarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Bootstrapping: running, not yet picked for scenario operations.
    Joining,
    /// Joined and running.
    Live,
    /// Gone: crashed or left. Its state is freed.
    Down,
}

/// The simulator's bookkeeping of one node (24 bytes).
#[derive(Clone, Copy, Debug)]
struct Meta {
    /// Sequence number of the node's valid tick event (older ones are stale).
    tick_seq: u64,
    /// When that tick is due (`u64::MAX`: none scheduled).
    tick_at: u64,
    /// Position in `Swarm::live` while `Live`.
    live_pos: u32,
    state: State,
    /// Partition group: datagrams only pass between nodes of the same group.
    group: u8,
}

/// What a queued event does.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Datagram from node `from` to node `to`, its bytes in flight slot `buf`.
    Deliver { from: u32, to: u32, buf: u32 },
    /// Call [`Node::tick`] on the node if this is still its scheduled tick.
    Tick { node: u32 },
    /// Churn: the node's session ends (if churn epoch `epoch` is still the current).
    Depart { node: u32, epoch: u32 },
    /// Run scheduled action number `index`.
    Action { index: u32 },
}

/// Who waits for an operation's result.
#[derive(Clone, Copy, Debug)]
enum Waiter {
    /// Slot of the running batch, and when the operation started.
    Batch { slot: u32, started: Time },
    /// The node's join (bootstrap), attempt number.
    Join { attempt: u8 },
}

/// Continuous churn: nodes come and go at a rate.
///
/// Session lengths are exponential with the given median (memoryless, so it does
/// not matter how long a node was up when churn starts); measured DHT sessions have
/// a heavier tail, which only makes churn easier on the survivors.
#[derive(Clone, Debug, PartialEq)]
pub struct Churn {
    /// Median time a node stays up. A departure is a crash: Mainline has no goodbye
    /// message, so a node that leaves and one that crashes look alike on the wire
    /// (see [`Swarm::leave_node`]).
    pub median_session: Duration,
    /// Whether every departure is balanced by a new node joining, keeping the size
    /// steady.
    pub replace: bool,
}

/// A fault or change to apply at a set virtual time ([`Swarm::schedule`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Crash this fraction of the live nodes ([`Swarm::crash`]).
    Crash(f64),
    /// This many live nodes leave gracefully.
    Leave(usize),
    /// This many new nodes join (without waiting for their bootstrap).
    Join(usize),
    /// Split the live nodes in two ([`Swarm::partition`]).
    Partition(f64),
    /// Lift the partition ([`Swarm::heal`]).
    Heal,
    /// Change the datagram loss probability ([`Swarm::set_loss`]).
    SetLoss(f64),
    /// Start, change or (with `None`) stop churn ([`Swarm::set_churn`]).
    SetChurn(Option<Churn>),
}

/// A simulated network of [`Node`]s. See the [module docs](self).
pub struct Swarm {
    config: SwarmConfig,
    /// `config.node` with no bootstrap list, shared by every node: a node joins
    /// through a seed contact instead.
    node_config: Arc<NodeConfig>,
    rng: SmallRng,
    now: Time,
    queue: Queue<Kind>,
    /// The bytes of the datagrams in flight, by slot.
    flight: flight::Flight,
    /// A delivered datagram's bytes while its node is called alone (reused).
    scratch: Vec<u8>,
    nodes: Vec<Option<Box<Node>>>,
    meta: Vec<Meta>,
    /// Live (joined, running) nodes, in an order that depends only on the seed.
    live: Vec<u32>,
    joining: usize,
    /// Reused output buffer of calls into nodes.
    out: Output,
    waiting: HashMap<(u32, u64), Waiter>,
    /// Results of the batch being run.
    results: Vec<Option<OpResult>>,
    pending: usize,
    metrics: Metrics,
    churn: Option<Churn>,
    churn_epoch: u32,
    actions: Vec<Action>,
    partitioned: bool,
    /// Events due within this many milliseconds of each other run as one window
    /// (the shortest link latency; 0: one event at a time). See [`window`].
    window_ms: u64,
    /// The workers' shares of a window, reused.
    lanes: Vec<window::Lane>,
    /// The lane of each event of the window being run, reused.
    order: Vec<u8>,
    /// The last millisecond of the window whose calls are being applied (0 outside
    /// one): what the bookkeeping's calls and the ticks asked for run at, at the
    /// earliest.
    window_last: u64,
    packets_sent: u64,
    bytes_sent: u64,
    packets_lost: u64,
    created: Instant,
    build_wall_ms: u64,
    /// The broadcast being measured ([`Swarm::broadcast_from`]).
    tracker: broadcast::Tracker,
    /// Subscribed versions delivered, see `subscribe`.
    updates: subscribe::Updates,
}

impl std::fmt::Debug for Swarm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Swarm")
            .field("nodes", &self.nodes.len())
            .field("live", &self.live())
            .field("now", &self.now)
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

/// The virtual address of node `index`.
pub fn node_addr(index: usize) -> SocketAddr {
    let ip = 0x7f00_0000 | ((index as u32).wrapping_add(1) & 0x00ff_ffff);
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), SIM_PORT))
}

/// The node at a virtual address, if it is one.
pub fn node_index(addr: SocketAddr) -> Option<usize> {
    let SocketAddr::V4(v4) = addr else {
        return None;
    };
    let ip = u32::from(*v4.ip());
    if v4.port() != SIM_PORT || ip >> 24 != 0x7f {
        return None;
    }
    (ip & 0x00ff_ffff).checked_sub(1).map(|i| i as usize)
}

impl Swarm {
    /// Builds a network of `config.nodes` nodes by real joins.
    ///
    /// Errors: [`Error::BadInput`] if the configuration is out of range
    /// ([`SwarmConfig::validate`]).
    pub fn new(config: SwarmConfig) -> Result<Swarm, Error> {
        Swarm::with_progress(config, &mut |_, _| {})
    }

    /// Like [`Swarm::new`], calling `progress(joined, total)` as nodes finish
    /// joining (at most about a thousand times).
    ///
    /// Errors: as [`Swarm::new`].
    pub fn with_progress(
        config: SwarmConfig,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Swarm, Error> {
        config.validate()?;
        let created = Instant::now();
        let total = config.nodes;
        let node_config = Arc::new(NodeConfig {
            bootstrap: Vec::new(),
            ..config.node.clone()
        });
        let mut swarm = Swarm {
            node_config,
            rng: SmallRng::seed_from_u64(config.seed),
            now: Time::ZERO,
            queue: Queue::new(),
            flight: flight::Flight::default(),
            scratch: Vec::new(),
            nodes: Vec::with_capacity(total),
            meta: Vec::with_capacity(total),
            live: Vec::with_capacity(total),
            joining: 0,
            out: Output::new(),
            waiting: HashMap::new(),
            results: Vec::new(),
            pending: 0,
            metrics: Metrics::default(),
            churn: None,
            churn_epoch: 0,
            actions: Vec::new(),
            partitioned: false,
            window_ms: config.latency.min_ms(),
            lanes: Vec::new(),
            order: Vec::new(),
            window_last: 0,
            packets_sent: 0,
            bytes_sent: 0,
            packets_lost: 0,
            created,
            build_wall_ms: 0,
            tracker: broadcast::Tracker::default(),
            updates: subscribe::Updates::default(),
            config,
        };
        // The first node is the network: nothing to join.
        let first = swarm.spawn(None);
        swarm.set_live(first);
        let step = (total / 1000).max(1);
        let mut started = 1;
        let mut reported = 0;
        progress(1, total);
        while swarm.live.len() < total {
            let room = swarm.config.join_concurrency.max(1).min(swarm.live.len());
            while started < total && swarm.joining < room {
                swarm.start_join();
                started += 1;
            }
            let joined = swarm.live.len();
            if joined >= reported + step {
                reported = joined;
                progress(joined, total);
            }
            if !swarm.step(Time::NEVER) {
                break;
            }
            if swarm.live.len() + swarm.joining < started {
                // A joining node went down (churn during the build): replace it.
                started = swarm.live.len() + swarm.joining;
            }
        }
        if reported != swarm.live.len() {
            progress(swarm.live.len(), total);
        }
        swarm.build_wall_ms = elapsed_ms(created);
        Ok(swarm)
    }

    /// The configuration the swarm was built with (`loss` as set now).
    pub fn config(&self) -> &SwarmConfig {
        &self.config
    }

    /// Nodes ever created, live or not; node indices are `0..len()`.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node was ever created (never true: a swarm has at least one).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Nodes running now, joined or still joining.
    pub fn live(&self) -> usize {
        self.live.len() + self.joining
    }

    /// Whether node `index` is running (joined or joining).
    pub fn is_live(&self, index: usize) -> bool {
        self.meta.get(index).is_some_and(|m| m.state != State::Down)
    }

    /// The joined, running nodes, in a seed-determined order.
    pub fn live_nodes(&self) -> &[u32] {
        &self.live
    }

    /// The current virtual time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Node `index`, if it is running: read its id, routing table, store, counters.
    pub fn node(&self, index: usize) -> Option<&Node> {
        self.nodes.get(index).and_then(|n| n.as_deref())
    }

    /// The virtual address of node `index`.
    pub fn addr(&self, index: usize) -> SocketAddr {
        node_addr(index)
    }

    /// A random joined, running node (seeded).
    pub fn random_live(&mut self) -> Option<usize> {
        if self.live.is_empty() {
            return None;
        }
        let i = self.rng.gen_range(0..self.live.len());
        Some(self.live[i] as usize)
    }

    /// Sets the datagram loss probability from now on.
    ///
    /// Errors: [`Error::BadInput`] if `loss` is not between 0 and 1.
    pub fn set_loss(&mut self, loss: f64) -> Result<(), Error> {
        self.config.loss = fraction("loss", loss)?;
        Ok(())
    }

    // ------------------------------------------------------------------------
    // Scenario operations

    /// Puts an immutable item from a random live node: `value` is stored bencoded as
    /// a byte string, like [`NodeHandle::put`](crate::NodeHandle::put); its key is the
    /// SHA-1 of that bencoding. The origin re-publishes it while it lives.
    pub fn put(&mut self, value: &[u8]) -> Result<PutResult, Error> {
        let node = self.random_live().ok_or(OpError::NoRoute)?;
        self.put_from(node, value)
    }

    /// Puts an immutable item from node `node` (see [`Swarm::put`]).
    pub fn put_from(&mut self, node: usize, value: &[u8]) -> Result<PutResult, Error> {
        let request = Request::Put(bencode::encode_bytes(value));
        typed(self.run_one(node, request), Outcome::into_stored)
    }

    /// Gets an immutable item from a random live node: the byte string if the value
    /// is one, else its bencoding; `None` if no node had it.
    pub fn get(&mut self, key: Id) -> Result<Option<Vec<u8>>, Error> {
        let node = self.random_live().ok_or(OpError::NoRoute)?;
        self.get_from(node, key)
    }

    /// Gets an immutable item from node `node` (see [`Swarm::get`]).
    pub fn get_from(&mut self, node: usize, key: Id) -> Result<Option<Vec<u8>>, Error> {
        let value = typed(self.run_one(node, Request::Get(key)), Outcome::into_value)?;
        Ok(value.map(unwrap_bytes))
    }

    /// Announces from node `node` that it serves `info_hash` on `port` (`None`: its
    /// UDP port); returns how many nodes stored the announce.
    pub fn announce_from(
        &mut self,
        node: usize,
        info_hash: Id,
        port: Option<u16>,
    ) -> Result<usize, Error> {
        self.announce_as_from(node, info_hash, port, false)
    }

    /// [`Swarm::announce_from`], as a seed (`seed: 1`, BEP 33) or not.
    pub fn announce_as_from(
        &mut self,
        node: usize,
        info_hash: Id,
        port: Option<u16>,
        seed: bool,
    ) -> Result<usize, Error> {
        let request = Request::Announce {
            info_hash,
            port,
            seed,
        };
        typed(self.run_one(node, request), Outcome::into_announced)
    }

    /// A BEP 33 scrape of `info_hash` from node `node`.
    pub fn scrape_from(
        &mut self,
        node: usize,
        info_hash: Id,
    ) -> Result<crate::node::ScrapeEstimate, Error> {
        typed(
            self.run_one(node, Request::Scrape(info_hash)),
            Outcome::into_scrape,
        )
    }

    /// A BEP 51 `sample_infohashes` lookup of `target` from node `node`.
    pub fn sample_from(
        &mut self,
        node: usize,
        target: Id,
    ) -> Result<crate::node::InfohashSamples, Error> {
        typed(
            self.run_one(node, Request::SampleInfohashes(target)),
            Outcome::into_samples,
        )
    }

    /// The peers announced for `info_hash`, looked up from node `node`.
    pub fn get_peers_from(&mut self, node: usize, info_hash: Id) -> Result<Vec<SocketAddr>, Error> {
        typed(
            self.run_one(node, Request::GetPeers(info_hash)),
            Outcome::into_peers,
        )
    }

    /// The k closest nodes to `target`, looked up from node `node`, nearest first.
    pub fn find_node_from(&mut self, node: usize, target: Id) -> Result<Vec<NodeInfo>, Error> {
        typed(
            self.run_one(node, Request::FindNode(target)),
            Outcome::into_nodes,
        )
    }

    /// Puts every value at once, each from a random live node (see [`Swarm::put`]
    /// and [`Swarm::run_batch`]); results in order.
    pub fn put_many(&mut self, values: &[Vec<u8>]) -> Vec<Result<PutResult, Error>> {
        let mut requests = Vec::with_capacity(values.len());
        for value in values {
            let node = self.random_live().unwrap_or(0);
            requests.push((node, Request::Put(bencode::encode_bytes(value))));
        }
        self.run_batch(requests)
            .into_iter()
            .map(|r| typed(r.outcome, Outcome::into_stored))
            .collect()
    }

    /// Gets every key at once, each from a random live node (see [`Swarm::get`] and
    /// [`Swarm::run_batch`]); results in order.
    pub fn get_many(&mut self, keys: &[Id]) -> Vec<Result<Option<Vec<u8>>, Error>> {
        let mut requests = Vec::with_capacity(keys.len());
        for key in keys {
            let node = self.random_live().unwrap_or(0);
            requests.push((node, Request::Get(*key)));
        }
        self.run_batch(requests)
            .into_iter()
            .map(|r| Ok(typed(r.outcome, Outcome::into_value)?.map(unwrap_bytes)))
            .collect()
    }

    fn run_one(&mut self, node: usize, request: Request) -> Result<Outcome, OpError> {
        self.run_batch(vec![(node, request)])
            .pop()
            .map_or(Err(OpError::Timeout), |r| r.outcome)
    }

    /// Starts every request at once, at the current virtual time, from its node, and
    /// runs the network until all have finished; results come back in request order.
    /// A request to a node that is down fails with [`OpError::Shutdown`]; one still
    /// running after [`OP_DEADLINE`] with [`OpError::Timeout`]. Every result is
    /// counted in [`Swarm::stats`].
    pub fn run_batch(&mut self, requests: Vec<(usize, Request)>) -> Vec<OpResult> {
        let started = self.now;
        self.results = vec![None; requests.len()];
        self.pending = 0;
        for (slot, (index, request)) in requests.into_iter().enumerate() {
            let slot = slot as u32;
            let Some(node) = self.node(index) else {
                self.complete(slot, started, failed(OpError::Shutdown));
                continue;
            };
            let op = node.next_op_id();
            self.waiting
                .insert((index as u32, op.0), Waiter::Batch { slot, started });
            self.pending += 1;
            self.call(index as u32, |node, now, out| {
                node.start(op, request, now, out)
            });
        }
        let deadline = started + OP_DEADLINE;
        while self.pending > 0 && self.step(deadline) {}
        if self.pending > 0 {
            // Whatever is still running has overstayed: report it, forget it.
            let stuck: Vec<((u32, u64), Waiter)> = self
                .waiting
                .iter()
                .filter(|(_, w)| matches!(w, Waiter::Batch { .. }))
                .map(|(k, w)| (*k, *w))
                .collect();
            let mut stuck = stuck;
            stuck.sort_unstable_by_key(|(k, _)| *k);
            for (key, waiter) in stuck {
                self.waiting.remove(&key);
                if let Some(node) = self.node(key.0 as usize) {
                    node.cancel(OpId(key.1));
                }
                if let Waiter::Batch { slot, started } = waiter {
                    self.complete(slot, started, failed(OpError::Timeout));
                }
            }
        }
        std::mem::take(&mut self.results)
            .into_iter()
            .map(|r| r.unwrap_or_else(|| failed(OpError::Timeout)))
            .collect()
    }

    /// Records a finished batch operation.
    fn complete(&mut self, slot: u32, started: Time, result: OpResult) {
        let ok = matches!(
            &result.outcome,
            Ok(outcome) if !matches!(outcome, Outcome::Value(None))
        );
        let latency = self.now.since(started).as_millis() as u64;
        self.metrics
            .record(ok, result.lookup.rounds, result.sent, latency);
        if let Some(r) = self.results.get_mut(slot as usize) {
            if r.is_none() {
                self.pending = self.pending.saturating_sub(1);
            }
            *r = Some(result);
        }
    }

    // ------------------------------------------------------------------------
    // Faults, churn, time

    /// Crashes `fraction` of the live nodes, picked at random (seeded); returns how
    /// many. Their state is gone at once; contacts elsewhere find out by timeouts.
    ///
    /// Errors: [`Error::BadInput`] if `fraction` is not between 0 and 1.
    pub fn crash(&mut self, fraction: f64) -> Result<usize, Error> {
        let fraction = self::fraction("fraction", fraction)?;
        Ok(self.crash_checked(fraction))
    }

    /// [`Swarm::crash`] of a fraction already checked.
    fn crash_checked(&mut self, fraction: f64) -> usize {
        let count = ((self.live.len() as f64) * fraction).round() as usize;
        for _ in 0..count {
            if let Some(node) = self.random_live() {
                self.take_down(node as u32);
            }
        }
        count
    }

    /// Crashes node `node` (no effect if it is down already).
    pub fn crash_node(&mut self, node: usize) {
        self.take_down(node as u32);
    }

    /// Node `node` leaves the network. Mainline has no goodbye message, so on the
    /// wire a leave is a crash: the node stops answering and re-publishing and its
    /// contacts find out by timeouts. Operations waiting on it end with
    /// [`OpError::Shutdown`].
    pub fn leave_node(&mut self, node: usize) {
        self.take_down(node as u32);
    }

    /// A new node joins through a random live node and the virtual time runs until
    /// its bootstrap is over; returns its index.
    pub fn join(&mut self) -> usize {
        let node = self.start_join();
        let deadline = self.now + OP_DEADLINE;
        while self.meta[node as usize].state == State::Joining && self.step(deadline) {}
        node as usize
    }

    /// Splits the live nodes in two groups, `fraction` of them (seeded pick) in the
    /// second; no datagram crosses between the groups until [`Swarm::heal`]. Nodes
    /// that join meanwhile are in the first group.
    ///
    /// Errors: [`Error::BadInput`] if `fraction` is not between 0 and 1.
    pub fn partition(&mut self, fraction: f64) -> Result<(), Error> {
        let fraction = self::fraction("fraction", fraction)?;
        self.partition_checked(fraction);
        Ok(())
    }

    /// [`Swarm::partition`] of a fraction already checked.
    fn partition_checked(&mut self, fraction: f64) {
        for m in &mut self.meta {
            m.group = 0;
        }
        let mut order = self.live.clone();
        // A seeded Fisher-Yates shuffle, then the first `fraction` go to group 1.
        for i in (1..order.len()).rev() {
            let j = self.rng.gen_range(0..=i);
            order.swap(i, j);
        }
        let count = ((order.len() as f64) * fraction).round() as usize;
        for &node in order.iter().take(count) {
            self.meta[node as usize].group = 1;
        }
        self.partitioned = true;
    }

    /// Lifts the partition: datagrams flow between all nodes again.
    pub fn heal(&mut self) {
        for m in &mut self.meta {
            m.group = 0;
        }
        self.partitioned = false;
    }

    /// The partition group of node `node` (0 or 1; all 0 when not partitioned).
    pub fn group(&self, node: usize) -> u8 {
        self.meta.get(node).map_or(0, |m| m.group)
    }

    /// Starts continuous churn (or changes or, with `None`, stops it): every running
    /// node's session ends after a random time with the given median (it goes down
    /// as in [`Swarm::crash_node`]), and with `replace` a new node joins for each that
    /// goes.
    pub fn set_churn(&mut self, churn: Option<Churn>) {
        self.churn_epoch = self.churn_epoch.wrapping_add(1);
        self.churn = churn;
        if self.churn.is_some() {
            let running: Vec<u32> = (0..self.meta.len() as u32)
                .filter(|&i| self.meta[i as usize].state != State::Down)
                .collect();
            for node in running {
                self.schedule_departure(node);
            }
        }
    }

    /// Applies `action` after `after` of virtual time (during a later
    /// [`Swarm::advance`] or any other call that runs the network).
    ///
    /// Errors: [`Error::BadInput`] if the action's fraction or loss is not between 0
    /// and 1 (checked now, not when it runs).
    pub fn schedule(&mut self, after: Duration, action: Action) -> Result<(), Error> {
        match action {
            Action::Crash(f) | Action::Partition(f) => {
                fraction("fraction", f)?;
            }
            Action::SetLoss(loss) => {
                fraction("loss", loss)?;
            }
            Action::Leave(_) | Action::Join(_) | Action::Heal | Action::SetChurn(_) => {}
        }
        let index = self.actions.len() as u32;
        self.actions.push(action);
        let at = (self.now + after).as_millis();
        self.push(at, Kind::Action { index });
        Ok(())
    }

    /// Runs the network for `d` of virtual time: deliveries, timeouts, maintenance
    /// (pings, bucket refresh, re-publishing), churn and scheduled actions.
    pub fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        while self.step(until) {}
        self.now = self.now.max(until);
    }

    /// Forgets the operation records behind [`SwarmStats`]'s success rate and
    /// percentiles (the traffic counters keep counting), to measure one phase alone.
    pub fn reset_ops(&mut self) {
        self.metrics = Metrics::default();
    }

    // ------------------------------------------------------------------------
    // Metrics

    /// The metrics so far.
    pub fn stats(&self) -> SwarmStats {
        let m = &self.metrics;
        SwarmStats {
            nodes: self.nodes.len(),
            live: self.live(),
            ops: m.ops,
            ops_ok: m.ops_ok,
            success_rate: if m.ops == 0 {
                1.0
            } else {
                m.ops_ok as f64 / m.ops as f64
            },
            rounds_p50: quantile(&m.rounds, 0.5),
            rounds_p99: quantile(&m.rounds, 0.99),
            messages_per_lookup_p50: quantile(&m.messages, 0.5),
            messages_per_lookup_p99: quantile(&m.messages, 0.99),
            latency_p50_ms: quantile(&m.latency, 0.5),
            latency_p99_ms: quantile(&m.latency, 0.99),
            bytes_sent: self.bytes_sent,
            packets_sent: self.packets_sent,
            packets_lost: self.packets_lost,
            memory_per_node: self.memory_per_node(),
            build_wall_ms: self.build_wall_ms,
            wall_ms: elapsed_ms(self.created),
            virtual_ms: self.now.as_millis(),
        }
    }

    /// Estimated bytes per running node: the sum over running nodes of
    /// [`Node::memory_bytes`] (the node's inline size plus its own accounting of its
    /// heap: routing table, store, transaction and operation tables) plus the
    /// simulator's bookkeeping of every node ever created (its slot, its `Meta`, its
    /// place in the live list), divided by the running nodes. Packets in flight and
    /// the event queue are not counted: they are the network, not the nodes.
    /// Allocator overhead (about 8–16 bytes per allocation) is not counted either;
    /// the million-node benchmark measures RSS to check the estimate.
    pub fn memory_per_node(&self) -> usize {
        let running = self.live().max(1);
        let nodes: usize = self.nodes.iter().flatten().map(|n| n.memory_bytes()).sum();
        let bookkeeping = self.nodes.capacity() * std::mem::size_of::<Option<Box<Node>>>()
            + self.meta.capacity() * std::mem::size_of::<Meta>()
            + self.live.capacity() * std::mem::size_of::<u32>();
        (nodes + bookkeeping) / running
    }

    // ------------------------------------------------------------------------
    // The event loop

    fn push(&mut self, at: u64, kind: Kind) -> u64 {
        self.queue.push(at, kind)
    }

    /// Runs the next window of events (see [`window`]) due at `limit` or before;
    /// false if there is none.
    fn step(&mut self, limit: Time) -> bool {
        let limit = limit.as_millis();
        if self.window_ms > 0 {
            return self.step_window(limit);
        }
        if self.queue.peek_at().is_none_or(|at| at > limit) {
            return false;
        }
        let Some(event) = self.queue.pop() else {
            return false;
        };
        self.run_event(event);
        true
    }

    /// Runs one event by itself.
    fn run_event(&mut self, event: queue::Entry<Kind>) {
        self.now = self.now.max(Time::from_millis(event.at));
        match event.item {
            Kind::Deliver { from, to, buf } => self.deliver(from, to, buf),
            Kind::Tick { node } => {
                if !window::current_tick(&self.meta, node, event.seq) {
                    return; // superseded by a later call's
                }
                self.meta[node as usize].tick_at = u64::MAX;
                self.call_tick(node);
            }
            Kind::Depart { node, epoch } => {
                if epoch == self.churn_epoch {
                    self.depart(node);
                }
            }
            Kind::Action { index } => {
                if let Some(action) = self.actions.get(index as usize).cloned() {
                    self.apply(action);
                }
            }
        }
    }

    fn deliver(&mut self, from: u32, to: u32, buf: u32) {
        let mut data = std::mem::take(&mut self.scratch);
        data.clear();
        data.extend_from_slice(self.flight.bytes(buf));
        if window::reachable(&self.meta, from, to) {
            let addr = node_addr(from as usize);
            self.tracker.set_sender(Some(from));
            self.call(to, |n, now, out| n.handle_datagram(addr, &data, now, out));
            self.tracker.set_sender(None);
        } else {
            self.packets_lost += 1;
        }
        self.scratch = data;
        self.flight.release(buf);
    }

    /// Calls into node `index` (if it runs) with the reused output, then sends what
    /// it sent, reports what finished, and schedules its next tick. The node is
    /// called at the current time, or, while a window's calls are applied, at the
    /// window's last millisecond (its later events may have run already; see
    /// [`window`]).
    fn call(&mut self, index: u32, f: impl FnOnce(&Node, Time, &mut Output)) {
        self.call_as(index, false, f);
    }

    /// A tick of node `index`.
    fn call_tick(&mut self, index: u32) {
        self.call_as(index, true, |n, now, out| n.tick(now, out));
    }

    fn call_as(&mut self, index: u32, ticked: bool, f: impl FnOnce(&Node, Time, &mut Output)) {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        // Inside a window, at its last millisecond: no node's clock goes back.
        let now = self.now.max(Time::from_millis(self.window_last));
        let Some(node) = self.nodes.get(index as usize).and_then(|n| n.as_deref()) else {
            self.out = out;
            return;
        };
        f(node, now, &mut out);
        let deadline = window::next_tick(node, now, ticked);
        let mut events = std::mem::take(&mut out.events);
        self.after_call(index, now, out.datagrams(), &mut events, deadline);
        out.events = events;
        self.out = out;
    }

    /// What follows a call into node `index` at `now`: its datagrams sent, its
    /// events handled, its next tick scheduled at `deadline` (inside a window, not
    /// before the window's last millisecond).
    fn after_call<'a>(
        &mut self,
        index: u32,
        now: Time,
        datagrams: impl Iterator<Item = (SocketAddr, &'a [u8])>,
        events: &mut Vec<Event>,
        deadline: u64,
    ) {
        for (to, data) in datagrams {
            self.track_send(to, data);
            self.send(index, to, data, now);
        }
        for event in events.drain(..) {
            // The simulator's `127.x` addresses never make an external address.
            match event {
                Event::Done { op, result } => self.on_done(index, op, result),
                Event::Broadcast(_) => self.tracker.on_delivered(index, now),
                Event::ExternalIp { .. } => {}
                Event::MutableUpdate(item) => self.on_update(index, &item, now),
                Event::Peers { info_hash, peers } => self.on_peers(index, info_hash, &peers, now),
            }
        }
        // The node may have gone down in `on_done` (not today, but cheap to check).
        if let Some(meta) = self.meta.get(index as usize) {
            let deadline = deadline.max(self.window_last);
            if meta.state != State::Down && deadline < meta.tick_at && deadline != u64::MAX {
                let seq = self.push(deadline, Kind::Tick { node: index });
                let meta = &mut self.meta[index as usize];
                meta.tick_at = deadline;
                meta.tick_seq = seq;
            }
        }
    }

    fn send(&mut self, from: u32, to: SocketAddr, data: &[u8], now: Time) {
        self.packets_sent += 1;
        self.bytes_sent += data.len() as u64;
        let Some(to) = node_index(to).filter(|&i| i < self.nodes.len()) else {
            self.packets_lost += 1;
            return;
        };
        let to = to as u32;
        if self.config.loss > 0.0 && self.rng.gen::<f64>() < self.config.loss {
            self.packets_lost += 1;
            return;
        }
        let latency = self.config.latency.link_ms(self.config.seed, from, to);
        let buf = self.flight.hold(data);
        let at = now.as_millis() + latency;
        self.push(at, Kind::Deliver { from, to, buf });
    }

    fn on_done(&mut self, index: u32, op: OpId, result: OpResult) {
        let Some(waiter) = self.waiting.remove(&(index, op.0)) else {
            return; // the node's own maintenance
        };
        match waiter {
            Waiter::Batch { slot, started } => self.complete(slot, started, result),
            Waiter::Join { attempt } => {
                // Joined once the table holds k contacts (or every other node): a
                // bootstrap through a poorly joined node, or one whose datagrams
                // were lost, can end with one or two, and a lookup seeded from so
                // few fails when they do.
                let want = self
                    .config
                    .node
                    .routing
                    .k
                    .min(self.live.len().saturating_sub(1))
                    .max(1);
                let table = self.node(index as usize).map_or(0, |n| n.routing().len());
                let joined = result.outcome.is_ok() && table >= want;
                if joined || attempt + 1 >= MAX_JOIN_ATTEMPTS {
                    self.joining = self.joining.saturating_sub(1);
                    self.set_live(index);
                    if let Some(node) = self.node(index as usize) {
                        // Its tables were sized for the bootstrap's burst.
                        node.shrink_to_fit();
                    }
                } else if let Some(through) = self.random_live() {
                    // Try again through another node, from what it has now.
                    let seed = self
                        .node(through)
                        .map(|n| NodeInfo::new(n.id(), node_addr(through)));
                    if let Some(node) = self.node(index as usize) {
                        node.add_seeds(seed);
                        let op = node.next_op_id();
                        self.waiting.insert(
                            (index, op.0),
                            Waiter::Join {
                                attempt: attempt + 1,
                            },
                        );
                        self.call(index, |n, now, out| {
                            n.start(op, Request::Bootstrap, now, out)
                        });
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------------
    // Membership

    /// Creates node number `len()`, joining through `through` if given.
    fn spawn(&mut self, through: Option<u32>) -> u32 {
        let index = self.nodes.len() as u32;
        let id = Id::random_with(&mut self.rng);
        let node = Node::with_rng(id, self.node_config.clone(), self.now, &mut self.rng);
        // A one-hop node announces the address it is reached at.
        node.set_member_addr(node_addr(index as usize));
        if let Some(through) = through.and_then(|t| self.node(t as usize).map(|n| (n.id(), t))) {
            node.add_seeds([NodeInfo::new(through.0, node_addr(through.1 as usize))]);
        }
        self.nodes.push(Some(Box::new(node)));
        self.meta.push(Meta {
            tick_seq: 0,
            tick_at: u64::MAX,
            live_pos: u32::MAX,
            state: State::Joining,
            group: 0,
        });
        if self.churn.is_some() {
            self.schedule_departure(index);
        }
        index
    }

    /// Spawns a node and starts its bootstrap through a random live node.
    fn start_join(&mut self) -> u32 {
        let through = self.random_live().map(|n| n as u32);
        let index = self.spawn(through);
        self.joining += 1;
        let Some(node) = self.node(index as usize) else {
            return index;
        };
        let op = node.next_op_id();
        self.waiting
            .insert((index, op.0), Waiter::Join { attempt: 0 });
        self.call(index, |n, now, out| {
            n.start(op, Request::Bootstrap, now, out)
        });
        index
    }

    fn set_live(&mut self, index: u32) {
        let meta = &mut self.meta[index as usize];
        if meta.state == State::Down {
            return;
        }
        meta.state = State::Live;
        meta.live_pos = self.live.len() as u32;
        self.live.push(index);
    }

    /// Takes a node down (crash or leave): frees its state, fails its waiters.
    fn take_down(&mut self, index: u32) {
        let Some(meta) = self.meta.get_mut(index as usize) else {
            return;
        };
        match meta.state {
            State::Down => return,
            State::Joining => self.joining = self.joining.saturating_sub(1),
            State::Live => {
                let pos = meta.live_pos as usize;
                self.live.swap_remove(pos);
                if let Some(&moved) = self.live.get(pos) {
                    self.meta[moved as usize].live_pos = pos as u32;
                }
            }
        }
        let meta = &mut self.meta[index as usize];
        meta.state = State::Down;
        meta.live_pos = u32::MAX;
        meta.tick_at = u64::MAX;
        self.nodes[index as usize] = None;
        // Fail what waits on it, in a deterministic order.
        let mut mine: Vec<(u64, Waiter)> = self
            .waiting
            .iter()
            .filter(|((n, _), _)| *n == index)
            .map(|((_, op), w)| (*op, *w))
            .collect();
        mine.sort_unstable_by_key(|(op, _)| *op);
        for (op, waiter) in mine {
            self.waiting.remove(&(index, op));
            if let Waiter::Batch { slot, started } = waiter {
                self.complete(slot, started, failed(OpError::Shutdown));
            }
        }
    }

    fn schedule_departure(&mut self, node: u32) {
        let Some(churn) = &self.churn else {
            return;
        };
        // Exponential with the given median: mean = median / ln 2.
        let mean_ms = churn.median_session.as_secs_f64() * 1000.0 / std::f64::consts::LN_2;
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        let after = (-u.ln() * mean_ms).round() as u64;
        let at = self.now.as_millis().saturating_add(after.max(1));
        let epoch = self.churn_epoch;
        self.push(at, Kind::Depart { node, epoch });
    }

    fn depart(&mut self, node: u32) {
        if !self.is_live(node as usize) {
            return;
        }
        let Some(replace) = self.churn.as_ref().map(|c| c.replace) else {
            return;
        };
        self.take_down(node);
        if replace {
            self.start_join();
        }
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Crash(fraction) => {
                self.crash_checked(fraction);
            }
            Action::Leave(count) => {
                for _ in 0..count {
                    if let Some(node) = self.random_live() {
                        self.leave_node(node);
                    }
                }
            }
            Action::Join(count) => {
                for _ in 0..count {
                    self.start_join();
                }
            }
            Action::Partition(fraction) => self.partition_checked(fraction),
            Action::Heal => self.heal(),
            Action::SetLoss(loss) => self.config.loss = loss,
            Action::SetChurn(churn) => self.set_churn(churn),
        }
    }
}

fn failed(error: OpError) -> OpResult {
    OpResult {
        outcome: Err(error),
        lookup: Default::default(),
        sent: 0,
    }
}

/// A value as [`NodeHandle::get`](crate::NodeHandle::get) returns it: the byte
/// string if it is one, else its bencoding.
fn unwrap_bytes(v: Vec<u8>) -> Vec<u8> {
    match bencode::decode_bytes(&v) {
        Some(bytes) => bytes.to_vec(),
        None => v,
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
        match result {
            Err(Error::BadInput(reason)) => reason,
            other => panic!("expected bad input, got {other:?}"),
        }
    }

    #[test]
    fn a_bad_config_is_refused_with_the_reason() {
        let config = |change: fn(&mut SwarmConfig)| {
            let mut c = SwarmConfig {
                nodes: 2,
                ..SwarmConfig::default()
            };
            change(&mut c);
            c
        };
        let loss = reason(Swarm::new(config(|c| c.loss = 5.0)));
        assert_eq!(loss, "loss must be between 0 and 1, got 5");
        assert!(reason(Swarm::new(config(|c| c.nodes = 0))).starts_with("nodes must be"));
        assert!(reason(Swarm::new(config(|c| c.loss = f64::NAN))).starts_with("loss"));
        assert!(reason(Swarm::new(config(|c| c.node.set_k(0)))).starts_with("k must be"));
        assert!(reason(Swarm::new(config(|c| {
            c.latency = Latency::Uniform {
                min: Duration::from_millis(50),
                max: Duration::from_millis(10),
            }
        })))
        .contains("low end"));
    }

    #[test]
    fn fractions_outside_0_to_1_are_refused_and_change_nothing() {
        let mut swarm = Swarm::new(SwarmConfig {
            nodes: 20,
            ..SwarmConfig::default()
        })
        .expect("valid");
        assert!(reason(swarm.crash(1.5)).starts_with("fraction must be"));
        assert!(reason(swarm.partition(-0.1)).starts_with("fraction must be"));
        assert!(reason(swarm.set_loss(2.0)).starts_with("loss must be"));
        assert!(reason(swarm.schedule(Duration::ZERO, Action::Crash(7.0))).contains("7"));
        assert_eq!(swarm.live(), 20);
        assert_eq!(swarm.config().loss, 0.0);
        assert_eq!(swarm.crash(0.5).expect("in range"), 10);
    }

    #[test]
    fn set_overlay_makes_a_one_hop_swarm_that_answers_in_one_round() {
        let mut config = SwarmConfig {
            nodes: 60,
            seed: 4,
            ..SwarmConfig::default()
        };
        let one_hop = Overlay::with_settings("one-hop", Some("ring"), Some(2)).expect("valid");
        config.set_overlay(one_hop, None).expect("valid");
        assert_eq!(config.node.network, NetworkId::from_name(SIM_NETWORK).ok());
        assert_eq!(config.node.broadcast.accept, AcceptPolicy::Open);
        let mut swarm = Swarm::new(config).expect("valid");
        swarm.advance(Duration::from_secs(30));
        let key = swarm.put(b"one hop").expect("put").key;
        swarm.reset_ops();
        assert_eq!(
            swarm.get(key).expect("get").as_deref(),
            Some(&b"one hop"[..])
        );
        assert_eq!(swarm.stats().rounds_p99, 1.0);
        let live = swarm.live_nodes()[0] as usize;
        assert_eq!(swarm.node(live).map(|n| n.members().len()), Some(60));
    }

    #[test]
    fn a_one_hop_subscription_goes_to_the_owners_and_sees_each_version() {
        let mut config = SwarmConfig {
            nodes: 60,
            seed: 6,
            ..SwarmConfig::default()
        };
        let one_hop =
            Overlay::with_settings("one-hop", Some("rendezvous"), Some(3)).expect("valid");
        config.set_overlay(one_hop, None).expect("valid");
        let mut swarm = Swarm::new(config).expect("valid");
        swarm.advance(Duration::from_secs(30));
        let writer = crate::Keypair::from_seed(&[8; 32]);
        let public_key = writer.public_key();
        let asked = swarm
            .subscribe_from(3, &public_key, b"s")
            .expect("subscribed");
        let target = crate::keypair::mutable_target(&public_key, b"s");
        let owners: Vec<Id> = swarm
            .node(3)
            .expect("live")
            .owners(&target)
            .expect("owners")
            .iter()
            .map(|n| n.id)
            .collect();
        let mut asked: Vec<Id> = asked.iter().map(|n| n.id).collect();
        asked.sort();
        let mut sorted = owners.clone();
        sorted.sort();
        assert_eq!(asked, sorted, "the owners were asked");
        for seq in 1..=3 {
            swarm
                .put_mutable_from(40, &writer, b"s", format!("v{seq}").as_bytes(), seq)
                .expect("put");
            swarm.advance(Duration::from_secs(5));
        }
        let seen: Vec<(usize, i64)> = swarm
            .take_updates()
            .iter()
            .map(|d| (d.node, d.seq))
            .collect();
        assert_eq!(seen, vec![(3, 1), (3, 2), (3, 3)]);
    }

    #[test]
    fn set_overlay_keeps_a_named_network_and_refuses_a_bad_name() {
        let mut config = SwarmConfig::default();
        config
            .set_overlay(Overlay::Kademlia, Some("lab"))
            .expect("valid");
        assert_eq!(config.node.network, NetworkId::from_name("lab").ok());
        assert_eq!(config.node.broadcast.accept, AcceptPolicy::Off);
        let one_hop = Overlay::from_name("one-hop").expect("valid");
        config.set_overlay(one_hop.clone(), None).expect("valid");
        assert_eq!(config.node.network, NetworkId::from_name("lab").ok());
        assert!(reason(config.set_overlay(one_hop, Some(""))).contains("network"));
        assert_eq!(config.node.network, NetworkId::from_name("lab").ok());
    }
}
