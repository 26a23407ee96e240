//! Every bound and timer of a node, with documented defaults.

use std::net::SocketAddr;
use std::time::Duration;

use super::limits::RateLimitConfig;
use crate::lookup::LookupConfig;
use crate::push::BroadcastConfig;
use crate::routing::RoutingConfig;
use crate::store::StoreConfig;

/// The client version dipsea puts in the `v` key of every message (BEP 5: two
/// letters naming the client, two bytes of version).
///
/// Version 2 and later speak the broadcast extension ([`crate::push::speaks_push`]).
pub const CLIENT_VERSION: [u8; 4] = *b"DS\x00\x02";

/// Protocol configuration of a node. Each field is a bound or a timer; the defaults
/// follow BEP 5 and deployed practice (`../shared/PROTOCOL.md`).
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// BEP 43 read-only node: answers no queries, marks its own with `ro: 1`.
    pub read_only: bool,
    /// Bootstrap routers, tried in turn when joining and when the table empties.
    pub bootstrap: Vec<SocketAddr>,
    /// Lookup parameters (k, alpha, stall interval, bounds).
    pub lookup: LookupConfig,
    /// Routing-table parameters.
    pub routing: RoutingConfig,
    /// Storage quotas and lifetimes.
    pub store: StoreConfig,
    /// Limits on the queries answered, per source IP and in all.
    pub rate_limit: RateLimitConfig,
    /// Datagrams longer than this are dropped unread (counted as `oversized`): the
    /// largest KRPC message a deployed node sends, a `get_peers` reply with 50 IPv6
    /// peers, is under 1,500 bytes. The UDP driver reads at most one byte more, so
    /// the rest of a longer datagram is never even copied out of the kernel.
    pub max_datagram: usize,
    /// Query timeout before the first round-trip sample.
    pub timeout_initial: Duration,
    /// Shortest query timeout, however fast the network looks.
    pub timeout_floor: Duration,
    /// Longest query timeout, however slow the network looks.
    pub timeout_ceiling: Duration,
    /// How many times an unanswered query is sent again before it counts as failed.
    pub max_retries: u8,
    /// Most queries awaiting an answer at once; more are refused (bounds memory and
    /// keeps bursts of replies within the socket's buffer).
    pub max_in_flight: usize,
    /// Most user operations running at once.
    pub max_operations: usize,
    /// After joining, look up a random id in every bucket farther than the closest
    /// neighbour that is not full (the Kademlia paper's join), so that a young
    /// network has no blind spots where lookups end at the wrong nodes. Default on.
    pub refresh_on_join: bool,
    /// A bucket untouched this long is refreshed by a lookup (BEP 5: 15 minutes).
    pub refresh_interval: Duration,
    /// How often questionable contacts are pinged and stored entries swept.
    pub maintenance_interval: Duration,
    /// How often items and announces this node made are stored again
    /// (below the store's TTL, so they never lapse).
    pub republish_interval: Duration,
    /// How often the routing table is saved when a state file is set (at least every
    /// millisecond; each save writes and flushes a small file).
    pub save_interval: Duration,
    /// First wait before re-bootstrapping an empty table; doubles on each failure.
    pub rebootstrap_min: Duration,
    /// Longest wait between re-bootstrap attempts.
    pub rebootstrap_max: Duration,
    /// Shards of the in-flight transaction table (a power of two, at least 2).
    pub in_flight_shards: usize,
    /// Which broadcasts this node delivers and forwards, and their bounds
    /// (default: none accepted).
    pub broadcast: BroadcastConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            read_only: false,
            bootstrap: Vec::new(),
            lookup: LookupConfig::default(),
            routing: RoutingConfig::default(),
            store: StoreConfig::default(),
            rate_limit: RateLimitConfig::default(),
            max_datagram: 8 * 1024,
            timeout_initial: Duration::from_secs(1),
            timeout_floor: Duration::from_millis(100),
            timeout_ceiling: Duration::from_secs(4),
            max_retries: 1,
            max_in_flight: 1024,
            max_operations: 4096,
            refresh_on_join: true,
            refresh_interval: Duration::from_secs(15 * 60),
            maintenance_interval: Duration::from_secs(60),
            republish_interval: Duration::from_secs(60 * 60),
            save_interval: Duration::from_secs(5 * 60),
            rebootstrap_min: Duration::from_secs(1),
            rebootstrap_max: Duration::from_secs(5 * 60),
            in_flight_shards: 16,
            broadcast: BroadcastConfig::default(),
        }
    }
}

impl NodeConfig {
    /// Sets k everywhere it matters: bucket size and replication factor.
    pub fn set_k(&mut self, k: usize) {
        let k = k.max(1);
        self.lookup.k = k;
        self.routing.k = k;
    }
}
