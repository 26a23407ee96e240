//! Broadcasts in the simulator: start one from a node, let it spread, and measure
//! coverage, messages and time ([`Swarm::broadcast_from`]).

use std::collections::HashMap;
use std::time::Duration;

use super::{node_index, Swarm};
use crate::id::NodeInfo;
use crate::node::Request;
use crate::push::{Broadcast, KeyRange};
use crate::time::Time;

/// Every broadcast datagram starts so: its `a` dict opens with the height `h`, a key
/// no other KRPC message of this crate starts its arguments with.
const BROADCAST_PREFIX: &[u8] = b"d1:ad1:h";

/// What the swarm tracks of the broadcast in progress.
#[derive(Debug, Default)]
pub(super) struct Tracker {
    range: Option<KeyRange>,
    started: Time,
    /// Nodes that delivered it, and when.
    deliveries: Vec<(u32, Time)>,
    /// Hops from the origin (0) of each node that delivered it or started it: a node
    /// is one hop deeper than the node whose copy it delivered.
    depths: HashMap<u32, u32>,
    /// The node whose datagram is being handled ([`Tracker::set_sender`]).
    sender: Option<u32>,
    datagrams: u64,
    elsewhere: u64,
}

impl Tracker {
    /// The simulator is about to hand node `from`'s datagram to its receiver: a
    /// delivery that follows is one hop deeper than `from`.
    pub(super) fn set_sender(&mut self, from: Option<u32>) {
        self.sender = from;
    }

    pub(super) fn on_delivered(&mut self, node: u32, now: Time) {
        if self.range.is_some() {
            self.deliveries.push((node, now));
            let parent = self.sender.and_then(|s| self.depths.get(&s).copied());
            // A sender not tracked (it cannot happen: a node forwards only what it
            // delivered) counts as the origin.
            let depth = parent.map_or(1, |d| d + 1);
            self.depths.entry(node).or_insert(depth);
        }
    }
}

/// What one broadcast did ([`Swarm::broadcast_from`]).
#[derive(Clone, Debug, PartialEq)]
pub struct BroadcastReport {
    /// Live nodes in the range (the origin included when it is in the range).
    pub in_range: usize,
    /// Of those, how many delivered it (the origin counts as delivered).
    pub delivered: usize,
    /// `delivered / in_range`.
    pub coverage: f64,
    /// Broadcast datagrams sent (hand-offs, retries included; acknowledgements and
    /// the lookup into a range are not counted).
    pub messages: u64,
    /// Of those, the ones sent to live nodes outside the range.
    pub messages_elsewhere: u64,
    /// Acknowledgements received by the senders.
    pub acks: u64,
    /// Copies dropped as duplicates.
    pub duplicates: u64,
    /// Virtual time from the start to the last delivery.
    pub time_to_full: Duration,
    /// Most hops from the origin to a node that delivered it (the origin's
    /// hand-offs are hop 1; a node's depth is its first copy's sender's plus one).
    pub max_depth: u32,
    /// Mean hops from the origin over the nodes that delivered it (the origin
    /// excluded); 0 when none did.
    pub mean_depth: f64,
    /// Queries of the lookup that routed into the range (0 when the origin is in
    /// it); its answers come on top.
    pub lookup_messages: u64,
    /// Lookups the nodes ran into subtrees whose every known contact failed, with
    /// no deeper neighbour to hand them to (their datagrams are not in `messages`).
    pub rescue_lookups: u64,
    /// Queries those lookups sent (each answered query brings one answer more).
    pub rescue_lookup_queries: u64,
}

impl Swarm {
    /// Node `node` starts broadcast `b` with `beta` (looking its range up first when
    /// the range does not hold the node), then the network runs for `settle` of
    /// virtual time; the report counts what that broadcast did.
    ///
    /// Nodes deliver only what their [`crate::push::BroadcastConfig::accept`] policy
    /// admits: build the swarm with a policy that accepts `b`'s origin.
    pub fn broadcast_from(
        &mut self,
        node: usize,
        b: Broadcast,
        beta: usize,
        settle: Duration,
    ) -> BroadcastReport {
        let range = b.range;
        let before = self.broadcast_totals();
        let own = self.node(node).map(|n| n.id());
        let (entry, lookup_messages) = if own.is_some_and(|id| !range.contains(&id)) {
            self.look_up_range(node, range)
        } else {
            (Vec::new(), 0)
        };
        self.tracker = Tracker {
            range: Some(range),
            started: self.now,
            depths: HashMap::from([(node as u32, 0)]),
            ..Tracker::default()
        };
        self.call(node as u32, |n, now, out| {
            n.broadcast(b, &entry, beta, now, out);
        });
        self.advance(settle);
        let tracker = std::mem::take(&mut self.tracker);
        let after = self.broadcast_totals();
        let mut delivered: Vec<u32> = tracker.deliveries.iter().map(|d| d.0).collect();
        delivered.retain(|&i| self.is_live(i as usize));
        if own.is_some_and(|id| range.contains(&id)) {
            delivered.push(node as u32);
        }
        delivered.sort_unstable();
        delivered.dedup();
        let in_range = self
            .live_nodes()
            .iter()
            .filter(|&&i| {
                self.node(i as usize)
                    .is_some_and(|n| range.contains(&n.id()))
            })
            .count();
        let last = tracker
            .deliveries
            .iter()
            .map(|d| d.1)
            .max()
            .unwrap_or(tracker.started);
        let depths: Vec<u32> = delivered
            .iter()
            .filter(|&&i| i != node as u32)
            .filter_map(|i| tracker.depths.get(i).copied())
            .collect();
        let mean_depth = if depths.is_empty() {
            0.0
        } else {
            depths.iter().map(|&d| f64::from(d)).sum::<f64>() / depths.len() as f64
        };
        BroadcastReport {
            in_range,
            delivered: delivered.len(),
            coverage: delivered.len() as f64 / in_range.max(1) as f64,
            messages: tracker.datagrams,
            messages_elsewhere: tracker.elsewhere,
            acks: after.0.saturating_sub(before.0),
            duplicates: after.1.saturating_sub(before.1),
            time_to_full: last.since(tracker.started),
            max_depth: depths.iter().copied().max().unwrap_or(0),
            mean_depth,
            lookup_messages,
            rescue_lookups: after.2.saturating_sub(before.2),
            rescue_lookup_queries: after.3.saturating_sub(before.3),
        }
    }

    /// Node `node` looks up the nodes of `range`: those found, and the lookup's own
    /// queries (the network's datagram count meanwhile holds every node's
    /// maintenance too: a million nodes sent 82,108 to 153,638 datagrams during one
    /// such lookup).
    fn look_up_range(&mut self, node: usize, range: KeyRange) -> (Vec<NodeInfo>, u64) {
        let Some(result) = self
            .run_batch(vec![(node, Request::FindNode(range.prefix()))])
            .pop()
        else {
            return (Vec::new(), 0);
        };
        let nodes = result.outcome.ok().and_then(|o| o.into_nodes().ok());
        (nodes.unwrap_or_default(), u64::from(result.sent))
    }

    /// Counts a datagram `from` sends to `to` if it is a broadcast.
    pub(super) fn track_send(&mut self, to: std::net::SocketAddr, data: &[u8]) {
        let Some(range) = self.tracker.range else {
            return;
        };
        if !data.starts_with(BROADCAST_PREFIX) {
            return;
        }
        self.tracker.datagrams += 1;
        // A crashed node's id is gone with it; only live nodes outside count.
        let outside = node_index(to)
            .and_then(|i| self.node(i))
            .is_some_and(|n| !range.contains(&n.id()));
        if outside {
            self.tracker.elsewhere += 1;
        }
    }

    /// (acknowledgements received, duplicates, subtrees looked up, their queries)
    /// summed over the nodes up now.
    fn broadcast_totals(&self) -> (u64, u64, u64, u64) {
        self.nodes
            .iter()
            .flatten()
            .map(|n| n.broadcast_stats())
            .fold((0, 0, 0, 0), |(a, d, l, q), s| {
                (
                    a + s.acked,
                    d + s.duplicates,
                    l + s.looked_up,
                    q + s.lookup_queries,
                )
            })
    }
}
