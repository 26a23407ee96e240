//! What one call into the sans-I/O node produces: datagrams to send and events.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use super::ops::{OpId, OpResult};

/// Something the node reports to its driver besides datagrams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An operation started with [`Node::start`](super::Node::start) is over.
    Done {
        /// Which operation.
        op: OpId,
        /// What it found or why it failed.
        result: OpResult,
    },
    /// The node now believes its public address is `ip`: a majority of the nodes
    /// that answered it said so (BEP 42, see [`Node::external_ip`]). Reported when
    /// first learned and whenever it changes.
    ///
    /// [`Node::external_ip`]: super::Node::external_ip
    ExternalIp {
        /// The address others see the node at.
        ip: IpAddr,
        /// Whether the node id conforms to BEP 42 for `ip`. When false, peers that
        /// enforce BEP 42 will not keep this node in their tables; the id is not
        /// changed while the node runs (restart it with an id derived from `ip`).
        id_conforms: bool,
    },
    /// A broadcast (or key-range multicast) reached this node and was accepted: it
    /// is delivered once, whatever the number of copies (see [`crate::push`]).
    Broadcast(crate::push::Broadcast),
    /// A newer version of a mutable item this node subscribes to
    /// ([`Node::add_subscription`](super::Node::add_subscription)), its signature
    /// checked: each sequence number once, in increasing order.
    MutableUpdate(crate::store::MutableItem),
    /// Peers newly seen for an info-hash this node subscribes to
    /// ([`Node::add_peer_subscription`](super::Node::add_peer_subscription)): each
    /// peer once per subscription.
    Peers {
        /// The info-hash.
        info_hash: crate::id::Id,
        /// The new peers.
        peers: Vec<std::net::SocketAddr>,
    },
}

/// Datagrams and events produced by one call into the node, reused between calls
/// so the per-packet path does not allocate once warm.
///
/// All datagrams share one byte arena; [`Output::datagrams`] walks them in order.
#[derive(Debug, Default)]
pub struct Output {
    arena: Vec<u8>,
    sends: Vec<(SocketAddr, Range<usize>)>,
    /// Events, in the order they happened.
    pub events: Vec<Event>,
}

impl Output {
    /// An empty output.
    pub fn new() -> Output {
        Output::default()
    }

    /// Forgets everything, keeping the allocations.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.sends.clear();
        self.events.clear();
    }

    /// Whether there is nothing to send and nothing to report.
    pub fn is_empty(&self) -> bool {
        self.sends.is_empty() && self.events.is_empty()
    }

    /// The datagrams to send, in order, with their destinations.
    pub fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> + '_ {
        self.sends
            .iter()
            .map(|(to, range)| (*to, self.arena.get(range.clone()).unwrap_or_default()))
    }

    /// How many datagrams are queued.
    pub fn datagram_count(&self) -> usize {
        self.sends.len()
    }

    /// The datagram queued last (empty if none).
    pub(crate) fn last_datagram(&self) -> &[u8] {
        self.sends
            .last()
            .and_then(|(_, r)| self.arena.get(r.clone()))
            .unwrap_or_default()
    }

    /// Queues a datagram to `to` whose bytes `write` appends to the arena.
    pub(crate) fn send(&mut self, to: SocketAddr, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.arena.len();
        write(&mut self.arena);
        self.sends.push((to, start..self.arena.len()));
    }

    /// Moves everything out of `self` into a list of owned datagrams and the events.
    pub fn take(&mut self) -> (Vec<(SocketAddr, Vec<u8>)>, Vec<Event>) {
        let datagrams = self.datagrams().map(|(to, d)| (to, d.to_vec())).collect();
        let events = std::mem::take(&mut self.events);
        self.clear();
        (datagrams, events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_come_back_in_order() {
        let mut out = Output::new();
        let a: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let b: SocketAddr = "127.0.0.1:2".parse().expect("addr");
        out.send(a, |buf| buf.extend_from_slice(b"one"));
        out.send(b, |buf| buf.extend_from_slice(b"two!"));
        let got: Vec<_> = out.datagrams().collect();
        assert_eq!(got, vec![(a, &b"one"[..]), (b, &b"two!"[..])]);
        out.clear();
        assert!(out.is_empty());
    }
}
