//! Every bound and timer of a node, with documented defaults.

use std::net::SocketAddr;
use std::time::Duration;

use super::limits::RateLimitConfig;
use crate::error::Error;
use crate::lookup::LookupConfig;
use crate::push::BroadcastConfig;
use crate::routing::RoutingConfig;
use crate::store::StoreConfig;

/// The client version dipsea puts in the `v` key of every message (BEP 5: two
/// letters naming the client, two bytes of version).
///
/// Version 2 and later speak the broadcast extension ([`crate::push::speaks_push`]),
/// 3 and later the subscriptions ([`crate::subscribe::speaks_subscribe`]), 4 and
/// later the subscriptions to an info-hash's peers
/// ([`crate::subscribe::PEERS_SUBSCRIBE_VERSION`]).
pub const CLIENT_VERSION: [u8; 4] = *b"DS\x00\x04";

/// Protocol configuration of a node. Each field is a bound or a timer; the defaults
/// follow BEP 5 and deployed practice (`../shared/PROTOCOL.md`).
///
/// This is the one place each default is documented: the nested sections
/// ([`LookupConfig`], [`RoutingConfig`], [`StoreConfig`], [`RateLimitConfig`]) document
/// theirs, and the C and Python bindings refer here. Every field can be set by name
/// ([`NodeConfig::set`], [`NodeConfig::options`]), which is how the bindings reach
/// them; [`NodeConfig::validate`] checks the ranges.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// BEP 43 read-only node: answers no queries, marks its own with `ro: 1`.
    /// Default false.
    pub read_only: bool,
    /// BEP 32 dual stack: the node has an IPv4 and an IPv6 socket, keeps a routing
    /// table per family, asks for both families (`want: [n4, n6]`) and runs its
    /// lookups over both. Default false; the UDP driver sets it when it binds both.
    pub dual_stack: bool,
    /// Bootstrap routers, tried in turn when joining and when the table empties.
    /// Default none ([`crate::NodeBuilder::bootstrap`] fills it).
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
    /// largest KRPC message a deployed node sends, a `get_peers` reply full of
    /// peers, is under 1,500 bytes ([`MAX_REPLY_LEN`](crate::rpc::MAX_REPLY_LEN)). The UDP driver reads at most one byte more, so
    /// the rest of a longer datagram is never even copied out of the kernel.
    /// Default 8 KiB (512 to 65,535).
    pub max_datagram: usize,
    /// Query timeout before the first round-trip sample. Default 1 s.
    pub timeout_initial: Duration,
    /// Shortest query timeout, however fast the network looks. Default 100 ms; at
    /// most `timeout_ceiling`.
    pub timeout_floor: Duration,
    /// Longest query timeout, however slow the network looks. Default 4 s.
    pub timeout_ceiling: Duration,
    /// How many times an unanswered query is sent again before it counts as failed.
    /// Default 1.
    pub max_retries: u8,
    /// Most queries awaiting an answer at once; more are refused (bounds memory and
    /// keeps bursts of replies within the socket's buffer). Default 1024.
    pub max_in_flight: usize,
    /// Most user operations running at once. Default 4096.
    pub max_operations: usize,
    /// After joining, look up a random id in every bucket farther than the closest
    /// neighbour that is not full (the Kademlia paper's join), so that a young
    /// network has no blind spots where lookups end at the wrong nodes. Default on.
    pub refresh_on_join: bool,
    /// A bucket untouched this long is refreshed by a lookup. Default 15 minutes
    /// (BEP 5).
    pub refresh_interval: Duration,
    /// How often questionable contacts are pinged and stored entries swept.
    /// Default 1 minute.
    pub maintenance_interval: Duration,
    /// How often items and announces this node made are stored again
    /// (below the store's TTL, so they never lapse). Default 1 hour.
    pub republish_interval: Duration,
    /// How often the routing table is saved when a state file is set (at least every
    /// millisecond; each save writes and flushes a small file). Default 5 minutes.
    pub save_interval: Duration,
    /// First wait before re-bootstrapping an empty table; doubles on each failure.
    /// Default 1 s; at most `rebootstrap_max`.
    pub rebootstrap_min: Duration,
    /// Longest wait between re-bootstrap attempts. Default 5 minutes.
    pub rebootstrap_max: Duration,
    /// Shards of the in-flight transaction table (a power of two, 2 to 65,536).
    /// Default 16.
    pub in_flight_shards: usize,
    /// Which broadcasts this node delivers and forwards, and their bounds
    /// (default: none accepted).
    pub broadcast: BroadcastConfig,
    /// Subscriptions to mutable items: leases, redundancy, limits.
    pub subscribe: crate::subscribe::SubscribeConfig,
    /// The private network this node belongs to (see [`super::network`]): it tags
    /// every message it sends with this id and drops messages of other networks.
    /// Default `None`: the public Mainline network, Mainline's bytes on the wire.
    pub network: Option<super::NetworkId>,
    /// The overlay: Kademlia (the default) or the one-hop overlay
    /// ([`crate::onehop`]), which needs `network` and a broadcast policy that
    /// accepts broadcasts (membership travels by them).
    pub overlay: crate::onehop::Overlay,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            read_only: false,
            dual_stack: false,
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
            subscribe: crate::subscribe::SubscribeConfig::default(),
            network: None,
            overlay: crate::onehop::Overlay::Kademlia,
        }
    }
}

impl NodeConfig {
    /// Sets k everywhere it matters: bucket size and replication factor. The value is
    /// checked (1 to 1024) by [`NodeConfig::validate`].
    pub fn set_k(&mut self, k: usize) {
        self.lookup.k = k;
        self.routing.k = k;
    }

    /// Checks every field against its range (see [`NodeConfig::options`]) and the
    /// rules between fields (`timeout_floor <= timeout_ceiling`,
    /// `rebootstrap_min <= rebootstrap_max`, `lookup.k == routing.k`). The builders
    /// ([`crate::NodeBuilder`], [`crate::sim::Swarm::new`]) call it before starting.
    ///
    /// Errors: [`Error::BadInput`] naming the first field out of range and why.
    pub fn validate(&self) -> Result<(), Error> {
        for option in table() {
            check_range(option, (option.get)(self))?;
        }
        if self.lookup.k != self.routing.k {
            return Err(Error::BadInput(format!(
                "lookup.k ({}) and routing.k ({}) differ; set both with NodeConfig::set_k",
                self.lookup.k, self.routing.k
            )));
        }
        ordered(
            "timeout_floor",
            self.timeout_floor,
            "timeout_ceiling",
            self.timeout_ceiling,
        )?;
        ordered(
            "rebootstrap_min",
            self.rebootstrap_min,
            "rebootstrap_max",
            self.rebootstrap_max,
        )?;
        if !self.in_flight_shards.is_power_of_two() {
            return Err(Error::BadInput(format!(
                "in_flight_shards must be a power of two, got {}",
                self.in_flight_shards
            )));
        }
        if let crate::onehop::Overlay::OneHop(onehop) = &self.overlay {
            if self.network.is_none() {
                return Err(Error::BadInput(
                    "a one-hop node needs a private network id (network); it never joins the public DHT"
                        .into(),
                ));
            }
            if self.broadcast.accept == crate::push::AcceptPolicy::Off {
                return Err(Error::BadInput(
                    "a one-hop node must accept broadcasts (broadcast.accept): membership travels by them"
                        .into(),
                ));
            }
            onehop.validate()?;
        }
        Ok(())
    }

    /// Every field of the configuration that can be set by name, with its kind and
    /// range: what [`NodeConfig::set`] accepts, and what the C and Python bindings
    /// expose. Each field's default and meaning is in its rustdoc above (nested ones
    /// as `lookup.max_queries`, `store.max_items`, `rate_limit.per_ip_rate`, ...);
    /// `k` sets `lookup.k` and `routing.k` together. Only `bootstrap` (a list of
    /// addresses) and `broadcast.accept` (a policy) are not here: they have their own
    /// setters in every binding. The broadcast bounds are `broadcast.beta`,
    /// `broadcast.per_origin.per_sec`, ... ([`BroadcastConfig`]).
    pub fn options() -> impl Iterator<Item = ConfigOption> {
        table().map(|o| ConfigOption {
            name: o.name,
            kind: o.kind,
            min: o.min,
            max: o.max,
        })
    }

    /// The option called `name` (see [`NodeConfig::options`]), if there is one.
    pub fn option(name: &str) -> Option<ConfigOption> {
        NodeConfig::options().find(|o| o.name == name)
    }

    /// Sets the field called `name` (see [`NodeConfig::options`]): a count as is, a
    /// flag as 0 or 1, a duration in milliseconds.
    ///
    /// Errors: [`Error::BadInput`] if there is no such option or `value` is outside
    /// its range. Rules between fields are checked by [`NodeConfig::validate`].
    pub fn set(&mut self, name: &str, value: u64) -> Result<(), Error> {
        let option = find(name)?;
        check_range(option, value)?;
        (option.set)(self, value);
        Ok(())
    }

    /// The value of the field called `name`, in the units of [`NodeConfig::set`]
    /// (durations in whole milliseconds).
    ///
    /// Errors: [`Error::BadInput`] if there is no such option.
    pub fn get(&self, name: &str) -> Result<u64, Error> {
        Ok((find(name)?.get)(self))
    }
}

/// What kind of value a configuration option holds (see [`NodeConfig::options`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionKind {
    /// A flag: 0 (off) or 1 (on).
    Flag,
    /// A count or size.
    Count,
    /// A duration, in milliseconds.
    Millis,
}

/// One settable field of [`NodeConfig`]: its name, kind and accepted range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigOption {
    /// The field's name, nested ones with their section (`store.max_items`).
    pub name: &'static str,
    /// How the value is read.
    pub kind: OptionKind,
    /// Smallest accepted value.
    pub min: u64,
    /// Largest accepted value.
    pub max: u64,
}

/// A row of the option table: the public description and how to read and write it.
struct Entry {
    name: &'static str,
    kind: OptionKind,
    min: u64,
    max: u64,
    get: fn(&NodeConfig) -> u64,
    set: fn(&mut NodeConfig, u64),
}

/// How a field's value converts to and from the option table's `u64` (its range is
/// checked first, so the narrowing never truncates).
trait OptionValue {
    fn to_u64(&self) -> u64;
    fn from_u64(value: u64) -> Self;
}

impl OptionValue for bool {
    fn to_u64(&self) -> u64 {
        u64::from(*self)
    }
    fn from_u64(value: u64) -> Self {
        value != 0
    }
}

impl OptionValue for Duration {
    fn to_u64(&self) -> u64 {
        u64::try_from(self.as_millis()).unwrap_or(u64::MAX)
    }
    fn from_u64(value: u64) -> Self {
        Duration::from_millis(value)
    }
}

macro_rules! count_value {
    ($($t:ty),*) => {$(
        impl OptionValue for $t {
            fn to_u64(&self) -> u64 {
                u64::try_from(*self).unwrap_or(u64::MAX)
            }
            fn from_u64(value: u64) -> Self {
                <$t>::try_from(value).unwrap_or(<$t>::MAX)
            }
        }
    )*};
}
count_value!(u8, u32, usize);

/// Largest value of a field type, as the table's `u64`.
const USIZE: u64 = usize::MAX as u64;
const U32: u64 = u32::MAX as u64;
const U8: u64 = u8::MAX as u64;
/// Longest duration option: about 49 days.
const MAX_MS: u64 = u32::MAX as u64;

/// One table row per field: `name, kind, min, max, field`.
macro_rules! options {
    ($($name:literal, $kind:ident, $min:expr, $max:expr, $($field:ident).+;)*) => {
        &[$(Entry {
            name: $name,
            kind: OptionKind::$kind,
            min: $min,
            max: $max,
            get: |c| OptionValue::to_u64(&c.$($field).+),
            set: |c, v| c.$($field).+ = OptionValue::from_u64(v),
        },)*]
    };
}

/// Every option but `k`, which sets two fields and comes first by hand.
const FIELDS: &[Entry] = options! {
    "read_only", Flag, 0, 1, read_only;
    "alpha", Count, 1, 1024, lookup.alpha;
    "lookup.stall_after", Millis, 1, MAX_MS, lookup.stall_after;
    "lookup.max_candidates", Count, 1, USIZE, lookup.max_candidates;
    "lookup.max_queries", Count, 1, USIZE, lookup.max_queries;
    "routing.max_failures", Count, 1, U8, routing.max_failures;
    "routing.replacement_cache", Count, 0, 1024, routing.replacement_cache;
    "routing.good_window", Millis, 1, MAX_MS, routing.good_window;
    "routing.enforce_bep42", Flag, 0, 1, routing.enforce_bep42;
    "store.item_ttl", Millis, 1, MAX_MS, store.item_ttl;
    "store.peer_ttl", Millis, 1, MAX_MS, store.peer_ttl;
    "store.max_items", Count, 0, USIZE, store.max_items;
    "store.max_value_bytes", Count, 0, USIZE, store.max_value_bytes;
    "store.max_info_hashes", Count, 0, USIZE, store.max_info_hashes;
    "store.max_peers_per_info_hash", Count, 0, USIZE, store.max_peers_per_info_hash;
    "store.max_items_per_ip", Count, 0, USIZE, store.max_items_per_ip;
    "store.max_announces_per_ip", Count, 0, USIZE, store.max_announces_per_ip;
    "store.limit_loopback", Flag, 0, 1, store.limit_loopback;
    "store.shards", Count, 1, USIZE, store.shards;
    "rate_limit.enabled", Flag, 0, 1, rate_limit.enabled;
    "rate_limit.per_ip_rate", Count, 0, U32, rate_limit.per_ip_rate;
    "rate_limit.per_ip_burst", Count, 1, U32, rate_limit.per_ip_burst;
    "rate_limit.global_rate", Count, 0, U32, rate_limit.global_rate;
    "rate_limit.global_burst", Count, 1, U32, rate_limit.global_burst;
    "rate_limit.max_tracked_ips", Count, 1, USIZE, rate_limit.max_tracked_ips;
    "rate_limit.limit_loopback", Flag, 0, 1, rate_limit.limit_loopback;
    "max_datagram", Count, 512, 65_535, max_datagram;
    "timeout_initial", Millis, 1, MAX_MS, timeout_initial;
    "timeout_floor", Millis, 1, MAX_MS, timeout_floor;
    "timeout_ceiling", Millis, 1, MAX_MS, timeout_ceiling;
    "max_retries", Count, 0, U8, max_retries;
    "max_in_flight", Count, 1, USIZE, max_in_flight;
    "max_operations", Count, 1, USIZE, max_operations;
    "refresh_on_join", Flag, 0, 1, refresh_on_join;
    "refresh_interval", Millis, 1, MAX_MS, refresh_interval;
    "maintenance_interval", Millis, 1, MAX_MS, maintenance_interval;
    "republish_interval", Millis, 1, MAX_MS, republish_interval;
    "save_interval", Millis, 1, MAX_MS, save_interval;
    "rebootstrap_min", Millis, 1, MAX_MS, rebootstrap_min;
    "rebootstrap_max", Millis, 1, MAX_MS, rebootstrap_max;
    "in_flight_shards", Count, 2, 1 << 16, in_flight_shards;
    "subscribe.lease", Millis, 1_000, MAX_MS, subscribe.lease;
    "subscribe.max_lease", Millis, 0, MAX_MS, subscribe.max_lease;
    "subscribe.redundancy", Count, 1, 64, subscribe.redundancy;
    "subscribe.max_held", Count, 0, USIZE, subscribe.max_held;
    "subscribe.max_per_ip", Count, 0, USIZE, subscribe.max_per_ip;
    "subscribe.max_active", Count, 0, USIZE, subscribe.max_active;
    "subscribe.retry", Millis, 1, MAX_MS, subscribe.retry;
    "broadcast.beta", Count, 1, U8, broadcast.beta;
    "broadcast.forward_beta", Count, 1, U8, broadcast.forward_beta;
    "broadcast.per_origin.per_sec", Count, 0, U32, broadcast.per_origin.per_sec;
    "broadcast.per_origin.burst", Count, 1, U32, broadcast.per_origin.burst;
    "broadcast.per_ip.per_sec", Count, 0, U32, broadcast.per_ip.per_sec;
    "broadcast.per_ip.burst", Count, 1, U32, broadcast.per_ip.burst;
    "broadcast.max_origins", Count, 1, USIZE, broadcast.max_origins;
    "broadcast.max_ips", Count, 1, USIZE, broadcast.max_ips;
    "broadcast.max_forwarding", Count, 0, USIZE, broadcast.max_forwarding;
};

/// `k`: bucket size and replication factor (routing clamps larger buckets to 1024).
const K_ENTRY: Entry = Entry {
    name: "k",
    kind: OptionKind::Count,
    min: 1,
    max: 1024,
    get: |c| OptionValue::to_u64(&c.lookup.k),
    set: |c, v| c.set_k(OptionValue::from_u64(v)),
};

/// The whole table, `k` first.
fn table() -> impl Iterator<Item = &'static Entry> {
    std::iter::once(&K_ENTRY).chain(FIELDS)
}

fn find(name: &str) -> Result<&'static Entry, Error> {
    table()
        .find(|o| o.name == name)
        .ok_or_else(|| Error::BadInput(format!("no configuration option is called {name:?}")))
}

fn check_range(option: &Entry, value: u64) -> Result<(), Error> {
    if (option.min..=option.max).contains(&value) {
        return Ok(());
    }
    let unit = match option.kind {
        OptionKind::Flag => " (0 or 1)",
        OptionKind::Count => "",
        OptionKind::Millis => " ms",
    };
    Err(Error::BadInput(format!(
        "{} must be between {} and {}{unit}, got {value}",
        option.name, option.min, option.max
    )))
}

fn ordered(low: &str, a: Duration, high: &str, b: Duration) -> Result<(), Error> {
    if a <= b {
        return Ok(());
    }
    Err(Error::BadInput(format!(
        "{low} ({a:?}) is above {high} ({b:?})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_input(result: Result<(), Error>) -> String {
        match result {
            Err(Error::BadInput(reason)) => reason,
            other => panic!("expected bad input, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid_and_every_option_reads_back_what_was_set() {
        let defaults = NodeConfig::default();
        defaults.validate().expect("the defaults are valid");
        for option in NodeConfig::options() {
            let mut config = NodeConfig::default();
            let value = match option.kind {
                OptionKind::Flag => 1 - config.get(option.name).expect("known"),
                OptionKind::Count | OptionKind::Millis => option.min.max(2).min(option.max),
            };
            config.set(option.name, value).expect(option.name);
            assert_eq!(config.get(option.name).ok(), Some(value), "{}", option.name);
        }
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_reason() {
        let mut config = NodeConfig::default();
        assert_eq!(
            bad_input(config.set("k", 0)),
            "k must be between 1 and 1024, got 0"
        );
        assert!(bad_input(config.set("read_only", 2)).contains("(0 or 1)"));
        assert!(bad_input(config.set("no_such_option", 1)).contains("no_such_option"));
        assert_eq!(config.lookup.k, 8, "a refused value changes nothing");
        config.set("max_in_flight", 64).expect("in range");
        assert_eq!(config.max_in_flight, 64);
    }

    #[test]
    fn validate_checks_fields_and_the_rules_between_them() {
        let changed = |change: fn(&mut NodeConfig)| {
            let mut config = NodeConfig::default();
            change(&mut config);
            bad_input(config.validate())
        };
        assert!(changed(|c| c.set_k(0)).starts_with("k must be"));
        assert!(changed(|c| c.lookup.alpha = 0).starts_with("alpha must be"));
        let floor = changed(|c| c.timeout_floor = Duration::from_secs(5));
        assert!(floor.contains("above timeout_ceiling"));
        assert!(changed(|c| c.in_flight_shards = 12).contains("power of two"));
        assert!(changed(|c| c.routing.k = 16).contains("differ"));
    }
}
