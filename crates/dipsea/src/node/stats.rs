//! A node's counters and their snapshot, [`NodeStats`].
//!
//! Entry point: [`Node::stats`]. The counters are relaxed atomics bumped on the
//! per-packet paths (`dispatch`, `transactions`); a snapshot reads them one by one,
//! so it is consistent per counter, not across counters.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use super::Node;
use crate::id::{Id, NodeInfo};
use crate::lookup::Lookup;
use crate::rpc::Refusal;
use crate::time::Time;

/// Counters a node keeps, read with [`Node::stats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) packets_in: AtomicU64,
    pub(super) packets_out: AtomicU64,
    pub(super) bytes_in: AtomicU64,
    pub(super) bytes_out: AtomicU64,
    pub(super) queries_in: QueryCounters,
    pub(super) responses_in: AtomicU64,
    pub(super) errors_in: AtomicU64,
    pub(super) malformed: AtomicU64,
    pub(super) oversized: AtomicU64,
    pub(super) rate_limited_ip: AtomicU64,
    pub(super) rate_limited_global: AtomicU64,
    pub(super) bad_token: AtomicU64,
    pub(super) over_quota: AtomicU64,
    pub(super) refused: AtomicU64,
    pub(super) sample_refused: AtomicU64,
    pub(super) bad_signature: AtomicU64,
    pub(super) seq_too_old: AtomicU64,
    pub(super) cas_mismatch: AtomicU64,
    pub(super) salt_too_big: AtomicU64,
    pub(super) value_too_big: AtomicU64,
    pub(super) target_mismatch: AtomicU64,
    pub(super) unknown_method: AtomicU64,
    pub(super) unmatched: AtomicU64,
    pub(super) timeouts: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) in_flight_full: AtomicU64,
    pub(super) send_drops: AtomicU64,
    pub(super) ops_started: AtomicU64,
    pub(super) ops_done: AtomicU64,
    pub(super) foreign_network: AtomicU64,
}

impl Counters {
    /// The counter of queries refused for `reason`: one per reason.
    pub(super) fn refusal(&self, reason: Refusal) -> &AtomicU64 {
        match reason {
            Refusal::BadToken => &self.bad_token,
            Refusal::Quota => &self.over_quota,
            Refusal::SampleTooSoon => &self.sample_refused,
            Refusal::BadSignature => &self.bad_signature,
            Refusal::SeqTooOld => &self.seq_too_old,
            Refusal::CasMismatch => &self.cas_mismatch,
            Refusal::SaltTooBig => &self.salt_too_big,
            Refusal::ValueTooBig => &self.value_too_big,
            Refusal::TargetMismatch => &self.target_mismatch,
            Refusal::UnknownMethod => &self.unknown_method,
            Refusal::BadArguments => &self.refused,
        }
    }
}

/// Defines [`QueryCounts`] and its atomic twin from one list of KRPC methods, so
/// the counters, the snapshot and the names users see cannot drift apart.
macro_rules! query_counts {
    ($($(#[doc = $doc:literal])* $method:ident,)*) => {
        /// Queries received, by KRPC method (`other` for unknown methods).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct QueryCounts {
            $($(#[doc = $doc])* pub $method: u64,)*
        }

        impl QueryCounts {
            /// Each method's name (as on the wire; `other` for unknown methods) and
            /// count, always in the same order: what the bindings and the CLI show.
            pub fn fields(&self) -> impl Iterator<Item = (&'static str, u64)> {
                [$((stringify!($method), self.$method),)*].into_iter()
            }
        }

        /// The live counters behind [`QueryCounts`].
        #[derive(Debug, Default)]
        pub(super) struct QueryCounters {
            $(pub(super) $method: AtomicU64,)*
        }

        impl QueryCounters {
            fn snapshot(&self) -> QueryCounts {
                QueryCounts {
                    $($method: self.$method.load(Ordering::Relaxed),)*
                }
            }
        }
    };
}

query_counts! {
    /// `ping` queries.
    ping,
    /// `find_node` queries.
    find_node,
    /// `get_peers` queries.
    get_peers,
    /// `announce_peer` queries.
    announce_peer,
    /// `get` (BEP 44) queries.
    get,
    /// `put` (BEP 44) queries.
    put,
    /// `sample_infohashes` (BEP 51) queries.
    sample_infohashes,
    /// Queries of unknown methods.
    other,
}

impl QueryCounts {
    /// Queries received, all methods together.
    pub fn total(&self) -> u64 {
        self.fields().map(|(_, n)| n).sum()
    }
}

/// Defines [`NodeStats`] from one list of its numeric fields, with
/// [`NodeStats::counters`] iterating them by name: the Python dict, the C struct's
/// check and anything else that lists the counters read this one list.
macro_rules! node_stats {
    ($($(#[doc = $doc:literal])* $field:ident: $ty:ty,)*) => {
        /// A snapshot of a node's counters.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct NodeStats {
            $($(#[doc = $doc])* pub $field: $ty,)*
            /// Queries received, by method.
            pub queries_in: QueryCounts,
            /// The node's public address, learned by vote ([`Node::external_ip`]).
            pub external_ip: Option<IpAddr>,
            /// Whether the node id conforms to BEP 42 for `external_ip` (`None` while
            /// that is unknown; see [`Node::id_conforms`]).
            pub id_conforms: Option<bool>,
            /// How many nodes the network holds, estimated from the distance of the
            /// k-th closest node each finished lookup found, averaged over the last
            /// lookups (about 16); `None` before the first lookup ends.
            pub network_size: Option<u64>,
        }

        impl NodeStats {
            /// Every numeric counter and gauge by its field name, in declaration
            /// order (the queries by method are in [`NodeStats::queries_in`], the
            /// external address and its BEP 42 check in their own fields).
            pub fn counters(&self) -> impl Iterator<Item = (&'static str, u64)> {
                [$((stringify!($field), Wide::wide(self.$field)),)*].into_iter()
            }
        }
    };
}

/// A counter or gauge widened to `u64` (a `usize` is at most 64 bits wide).
trait Wide {
    fn wide(self) -> u64;
}

impl Wide for u64 {
    fn wide(self) -> u64 {
        self
    }
}

impl Wide for usize {
    fn wide(self) -> u64 {
        self as u64
    }
}

node_stats! {
    /// Datagrams received.
    packets_in: u64,
    /// Datagrams sent.
    packets_out: u64,
    /// Bytes received.
    bytes_in: u64,
    /// Bytes sent.
    bytes_out: u64,
    /// Answers received to our queries.
    responses_in: u64,
    /// KRPC errors received in answer to our queries.
    errors_in: u64,
    /// Datagrams that did not decode (dropped; a query among them whose transaction
    /// id could be read got a 203 error, within the rate limits).
    malformed: u64,
    /// Datagrams longer than [`NodeConfig::max_datagram`](super::NodeConfig::max_datagram), dropped unread.
    oversized: u64,
    /// Queries dropped unanswered because their source IP was over its rate.
    rate_limited_ip: u64,
    /// Queries dropped unanswered because the node was over its global rate.
    rate_limited_global: u64,
    /// `announce_peer` and `put` queries refused for a missing or wrong write token.
    bad_token: u64,
    /// Puts and announces refused because the store (or the asker's share) was full.
    over_quota: u64,
    /// Queries refused (203) for arguments that make them impossible: an announce
    /// for port 0, a mutable put without `seq` or `sig`. Every other refusal has its
    /// own counter.
    refused: u64,
    /// `sample_infohashes` queries refused (202) because their source had a sample
    /// less than [`SAMPLE_INTERVAL`](crate::rpc::SAMPLE_INTERVAL) ago (BEP 51).
    sample_refused: u64,
    /// Mutable puts refused (206) because the signature does not verify (BEP 44).
    bad_signature: u64,
    /// Mutable puts refused (302) because the stored version is newer (BEP 44).
    seq_too_old: u64,
    /// Mutable puts refused (301) because `cas` is not the stored sequence number.
    cas_mismatch: u64,
    /// Mutable puts refused (207) because the salt is over 64 bytes.
    salt_too_big: u64,
    /// Puts refused (205) because the value is over 1,000 bytes.
    value_too_big: u64,
    /// Mutable puts refused (203) because `target` is not SHA-1(key + salt).
    target_mismatch: u64,
    /// Queries refused (204) because their method is unknown and has no `target`.
    unknown_method: u64,
    /// Answers that matched no query in flight (late, spoofed or duplicate).
    unmatched: u64,
    /// Queries that got no answer after every retry.
    timeouts: u64,
    /// Queries sent again after a timeout.
    retries: u64,
    /// Queries not sent because the in-flight table was full.
    in_flight_full: u64,
    /// Datagrams the driver could not send (socket buffer full).
    send_drops: u64,
    /// Operations started.
    ops_started: u64,
    /// Operations finished.
    ops_done: u64,
    /// Messages dropped because they belong to another network: their `zn` differs
    /// from [`NodeConfig::network`](super::NodeConfig::network), or is missing on a
    /// node of a private network, or present on a public one.
    foreign_network: u64,
    /// Queries awaiting an answer now.
    in_flight: usize,
    /// Contacts in the routing table.
    routing_table_size: usize,
    /// Immutable items stored for others.
    items: usize,
    /// Info-hashes with peers stored for others.
    info_hashes: usize,
    /// Bytes of values stored for others.
    stored_bytes: usize,
    /// Items this node re-publishes.
    published: usize,
    /// Broadcasts this node started ([`Node::broadcast`]).
    broadcasts_started: u64,
    /// Broadcasts received, accepted and delivered.
    broadcasts_delivered: u64,
    /// Broadcast hand-off datagrams sent, retries included.
    broadcasts_forwarded: u64,
    /// Broadcasts received and refused (policy, rate, signature, replay, size, range).
    broadcasts_refused: u64,
    /// Second copies of broadcasts received and dropped.
    broadcasts_duplicate: u64,
    /// Subscriptions to mutable items this node holds for others (as a storing node).
    subscriptions_held: usize,
    /// Mutable items this node subscribes to itself.
    subscriptions_active: usize,
    /// Notifications (`dipsea_notify`) sent to subscribers.
    notifications_sent: u64,
    /// New versions received and delivered, each verified: pushed by a notification
    /// or carried by the answer to a subscription or renewal.
    notifications_received: u64,
    /// Subscriptions refused because this node held its most already.
    subscribe_refused_node: u64,
    /// Subscriptions refused because their IP address held its most already.
    subscribe_refused_ip: u64,
    /// Notifications refused: no subscription to their target here.
    notify_unsolicited: u64,
    /// Notifications refused: malformed, wrong target or bad signature.
    notify_invalid: u64,
    /// Notifications not newer than the version held (acknowledged, not delivered).
    notify_stale: u64,
    /// Storing nodes dropped by a subscription (renewal refused or unanswered), each
    /// replaced by a lookup.
    resubscribes: u64,
    /// Members a one-hop node knows, itself included (0 on a Kademlia node).
    members: usize,
    /// Membership events refused as forged: a join not signed by its member's key,
    /// a departure announced by a non-member, a malformed event, a listed member
    /// without a valid signed join the accept policy allows.
    members_forged: u64,
    /// Departures announced by another member that this node's own ping refuted.
    members_refuted: u64,
    /// Members this node found unresponsive itself, removed and announced gone.
    members_detected: u64,
    /// Items this one-hop node put to a new owner after the members changed, counted
    /// when the owner acknowledged the put.
    items_handed_off: u64,
    /// Hand-off puts this one-hop node gave up: unanswered or refused at each of
    /// their sends, or their owner left meanwhile (the pass its departure starts
    /// names the owner in its place).
    handoff_failed: u64,
    /// Hand-off puts waiting to be sent.
    handoff_queued: usize,
}

impl Node {
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
        let announced = self.announced.lock().len() * (size_of::<(Id, (Option<u16>, bool))>() + 16);
        let store = self.store.stats();
        let store_bytes = if store.items + store.info_hashes > 0 {
            self.config.store.effective_shards() * SHARD
        } else {
            0
        } + (store.items + store.info_hashes) * STORE_ENTRY
            + store.bytes
            + store.peers * size_of::<(SocketAddr, Time)>();
        size_of::<Node>()
            + self.tables().map(|t| t.heap_bytes()).sum::<usize>()
            + self
                .routing6
                .as_ref()
                .map_or(0, |_| size_of::<crate::routing::RoutingTable>())
            + self.limiter.as_ref().map_or(0, |l| {
                size_of::<crate::node::limits::RateLimiter>() + l.heap_bytes()
            })
            + store_bytes
            + in_flight
            + ops
            + published
            + announced
            + self.seeds.lock().capacity() * size_of::<NodeInfo>()
            + self.own_config_bytes()
            + self.external.heap_bytes()
            + self.speakers_heap_bytes()
            + self.broadcast_state_bytes()
            + self.subscription_state_bytes()
            + self.onehop_heap_bytes()
            + self.signatures.heap_bytes()
    }

    /// The configuration's bytes if this node alone holds it, else none (shared
    /// ones are counted by whoever shares them).
    fn own_config_bytes(&self) -> usize {
        if std::sync::Arc::strong_count(&self.config) > 1 {
            return 0;
        }
        std::mem::size_of::<super::NodeConfig>()
            + self.config.bootstrap.capacity() * std::mem::size_of::<SocketAddr>()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> NodeStats {
        let c = &self.counters;
        // A node that never subscribed has no subscription state to read.
        let unused;
        let s = match self.subscriptions.get() {
            Some(subs) => &subs.counters,
            None => {
                unused = super::subscribe::Counters::default();
                &unused
            }
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let store = self.store.stats();
        let broadcasts = self.broadcast_stats();
        let onehop = self.onehop_counters();
        NodeStats {
            packets_in: load(&c.packets_in),
            packets_out: load(&c.packets_out),
            bytes_in: load(&c.bytes_in),
            bytes_out: load(&c.bytes_out),
            queries_in: c.queries_in.snapshot(),
            responses_in: load(&c.responses_in),
            errors_in: load(&c.errors_in),
            malformed: load(&c.malformed),
            oversized: load(&c.oversized),
            rate_limited_ip: load(&c.rate_limited_ip),
            rate_limited_global: load(&c.rate_limited_global),
            bad_token: load(&c.bad_token),
            over_quota: load(&c.over_quota),
            refused: load(&c.refused),
            sample_refused: load(&c.sample_refused),
            bad_signature: load(&c.bad_signature),
            seq_too_old: load(&c.seq_too_old),
            cas_mismatch: load(&c.cas_mismatch),
            salt_too_big: load(&c.salt_too_big),
            value_too_big: load(&c.value_too_big),
            target_mismatch: load(&c.target_mismatch),
            unknown_method: load(&c.unknown_method),
            unmatched: load(&c.unmatched),
            timeouts: load(&c.timeouts),
            retries: load(&c.retries),
            in_flight_full: load(&c.in_flight_full),
            send_drops: load(&c.send_drops),
            ops_started: load(&c.ops_started),
            ops_done: load(&c.ops_done),
            foreign_network: load(&c.foreign_network),
            in_flight: self.in_flight_len.load(Ordering::Relaxed),
            routing_table_size: self.table_len(),
            items: store.items,
            info_hashes: store.info_hashes,
            stored_bytes: store.bytes,
            published: self.published.lock().len(),
            broadcasts_started: broadcasts.started,
            broadcasts_delivered: broadcasts.delivered,
            broadcasts_forwarded: broadcasts.forwarded,
            broadcasts_refused: broadcasts.refused,
            broadcasts_duplicate: broadcasts.duplicates,
            subscriptions_held: self.subscriptions.get().map_or(0, |s| s.held()),
            subscriptions_active: self.subscriptions.get().map_or(0, |s| s.active()),
            notifications_sent: load(&s.notifications_sent),
            notifications_received: load(&s.notifications_received),
            subscribe_refused_node: load(&s.refused_node),
            subscribe_refused_ip: load(&s.refused_ip),
            notify_unsolicited: load(&s.notify_unsolicited),
            notify_invalid: load(&s.notify_invalid),
            notify_stale: load(&s.notify_stale),
            resubscribes: load(&s.resubscribes),
            members: self.member_count(),
            members_forged: onehop[0],
            members_refuted: onehop[1],
            members_detected: onehop[2],
            items_handed_off: onehop[3],
            handoff_failed: onehop[4],
            handoff_queued: self.handoff_queued(),
            external_ip: self.external_ip(),
            id_conforms: self.id_conforms(),
            network_size: self.size.get(),
        }
    }

    pub(super) fn count_sent(&self, datagrams: usize, bytes: usize) {
        self.counters
            .packets_out
            .fetch_add(datagrams as u64, Ordering::Relaxed);
        self.counters
            .bytes_out
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Records that the driver dropped an outgoing datagram.
    pub fn count_send_drop(&self) {
        self.counters.send_drops.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_has_one_name_and_the_query_methods_are_the_wire_names() {
        let stats = NodeStats {
            retries: 3,
            published: 2,
            queries_in: QueryCounts {
                announce_peer: 4,
                other: 1,
                ..QueryCounts::default()
            },
            ..NodeStats::default()
        };
        let names: Vec<&str> = stats.counters().map(|(n, _)| n).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(names.contains(&"rate_limited_ip") && names.contains(&"stored_bytes"));
        let counters: std::collections::HashMap<_, _> = stats.counters().collect();
        assert_eq!((counters["retries"], counters["published"]), (3, 2));
        let methods: Vec<(&str, u64)> = stats.queries_in.fields().collect();
        assert_eq!(
            methods,
            [
                ("ping", 0),
                ("find_node", 0),
                ("get_peers", 0),
                ("announce_peer", 4),
                ("get", 0),
                ("put", 0),
                ("sample_infohashes", 0),
                ("other", 1)
            ]
        );
        assert_eq!(stats.queries_in.total(), 5);
    }
}
