//! Network identity: keeping a private network's nodes apart from the public DHT and
//! from each other.
//!
//! Entry point: [`NetworkId`], set in [`NodeConfig::network`](super::NodeConfig::network)
//! ([`crate::NodeBuilder::network`]). A node with a network id adds it to every
//! message it sends, as the top-level key `zn` (a dipsea extension; `zn` sorts after
//! every Mainline key, so it is written last and the rest of the message is
//! byte-for-byte Mainline's), and drops every message whose `zn` differs or is
//! missing, counting it in [`NodeStats::foreign_network`](super::NodeStats). A node
//! without one (the default: the public Mainline network, unchanged bytes on the wire)
//! drops messages that carry a `zn`. The check runs right after decoding, before the
//! rate limiter, the routing table or the store see the message, so a node of another
//! network never enters the tables and nothing it says is stored or answered.
//!
//! The id keeps honest networks apart (an application's cluster never mixes with the
//! public DHT or with another cluster on the same hosts); it is not a secret and does
//! not authenticate anyone: whoever knows the name can join.

use std::fmt;
use std::sync::atomic::Ordering;

use super::output::Output;
use super::Node;
use crate::error::Error;
use crate::wire::bencode::write_bytes;

/// Length of a network id, in bytes: 64 bits make an accidental collision between
/// two networks' names negligible, at 14 bytes on the wire per message (`2:zn8:` and
/// the id).
pub const NETWORK_ID_LEN: usize = 8;

/// The id of a private network: the first [`NETWORK_ID_LEN`] bytes of
/// SHA-1(`"dipsea network " ‖ name`).
///
/// ```
/// use dipsea::node::NetworkId;
/// let a = NetworkId::from_name("my-cluster").expect("a name");
/// assert_eq!(a, NetworkId::from_name("my-cluster").expect("a name"));
/// assert_ne!(a, NetworkId::from_name("other").expect("a name"));
/// assert!(NetworkId::from_name("").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetworkId([u8; NETWORK_ID_LEN]);

/// Longest network name accepted, in bytes.
pub const MAX_NETWORK_NAME_LEN: usize = 255;

impl NetworkId {
    /// The id of the network called `name` (1 to 255 bytes of UTF-8; every node of
    /// the network must use the same name).
    ///
    /// Errors: [`Error::BadInput`] for an empty or too long name.
    pub fn from_name(name: &str) -> Result<NetworkId, Error> {
        if name.is_empty() || name.len() > MAX_NETWORK_NAME_LEN {
            return Err(Error::BadInput(format!(
                "a network name must be 1 to {MAX_NETWORK_NAME_LEN} bytes, got {}",
                name.len()
            )));
        }
        let mut input = b"dipsea network ".to_vec();
        input.extend_from_slice(name.as_bytes());
        let digest = crate::id::Id::sha1(&input);
        let mut id = [0; NETWORK_ID_LEN];
        id.copy_from_slice(&digest.as_bytes()[..NETWORK_ID_LEN]);
        Ok(NetworkId(id))
    }

    /// A network id from its raw bytes (as carried in `zn`).
    pub fn from_bytes(bytes: [u8; NETWORK_ID_LEN]) -> NetworkId {
        NetworkId(bytes)
    }

    /// The raw bytes, as carried in `zn`.
    pub fn as_bytes(&self) -> &[u8; NETWORK_ID_LEN] {
        &self.0
    }
}

impl fmt::Debug for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkId({self})")
    }
}

impl fmt::Display for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Appends `network` as the `zn` key to the bencoded dict that ends `buf` from
/// `start`: its closing `e` is replaced by `2:zn8:<id>e`. Nothing happens without a
/// network, or if what was written is not a dict (nothing to tag).
pub(super) fn stamp(buf: &mut Vec<u8>, start: usize, network: Option<&NetworkId>) {
    let Some(network) = network else {
        return;
    };
    let written = buf.get(start..).unwrap_or_default();
    if written.first() != Some(&b'd') || written.last() != Some(&b'e') {
        return;
    }
    buf.pop();
    buf.extend_from_slice(b"2:zn");
    write_bytes(buf, network.as_bytes());
    buf.push(b'e');
}

impl Node {
    /// The node's network id ([`NodeConfig::network`](super::NodeConfig::network)).
    pub fn network(&self) -> Option<NetworkId> {
        self.config.network
    }

    /// Whether a message carrying `zn` = `theirs` belongs to this node's network;
    /// counts it in `foreign_network` if not.
    pub(super) fn same_network(&self, theirs: Option<&[u8]>) -> bool {
        let ours = self.config.network.as_ref().map(|n| &n.as_bytes()[..]);
        if ours == theirs {
            return true;
        }
        self.counters
            .foreign_network
            .fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Queues a datagram to `to` that `write` encodes, tagged with the node's network
    /// (see [`stamp`]). Every datagram the node sends goes through here.
    pub(super) fn send_datagram(
        &self,
        out: &mut Output,
        to: std::net::SocketAddr,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        let network = self.config.network.as_ref();
        out.send(to, |buf| {
            let start = buf.len();
            write(buf);
            stamp(buf, start, network);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Id;
    use crate::node::test_support::{addr, node_with_router, ping_from, replies};
    use crate::node::{NodeConfig, Output};
    use crate::time::Time;
    use crate::wire::{self, Message, QueryMethod};

    fn node_of(network: Option<&str>) -> Node {
        let config = NodeConfig {
            network: network.map(|n| NetworkId::from_name(n).expect("name")),
            bootstrap: vec![addr(9)],
            ..NodeConfig::default()
        };
        Node::new(Id::sha1(b"me"), config, Time::ZERO)
    }

    fn ping_of(network: Option<&NetworkId>) -> Vec<u8> {
        let msg = Message {
            network: network.map(|n| &n.as_bytes()[..]),
            ..Message::query(b"aa", Id::sha1(b"them"), QueryMethod::Ping)
        };
        let mut datagram = Vec::new();
        msg.encode(&mut datagram);
        datagram
    }

    #[test]
    fn stamping_a_dict_appends_zn_last() {
        let net = NetworkId::from_bytes(*b"12345678");
        let mut buf = b"xx".to_vec();
        let start = buf.len();
        buf.extend_from_slice(b"d1:t2:aa1:y1:qe");
        stamp(&mut buf, start, Some(&net));
        assert_eq!(&buf[start..], b"d1:t2:aa1:y1:q2:zn8:12345678e");
        let mut plain = b"d1:t2:aa1:y1:qe".to_vec();
        stamp(&mut plain, 0, None);
        assert_eq!(plain, b"d1:t2:aa1:y1:qe");
        let mut not_a_dict = b"4:spam".to_vec();
        stamp(&mut not_a_dict, 0, Some(&net));
        assert_eq!(not_a_dict, b"4:spam");
    }

    #[test]
    fn a_node_answers_its_own_network_only_and_counts_the_others() {
        let net = NetworkId::from_name("blue").expect("name");
        let other = NetworkId::from_name("green").expect("name");
        let node = node_of(Some("blue"));
        let mut out = Output::new();
        node.handle_datagram(addr(7), &ping_of(Some(&net)), Time::ZERO, &mut out);
        assert_eq!(replies(&out).len(), 1);
        for (_, datagram) in out.datagrams() {
            let sent = wire::decode(datagram).expect("decode");
            assert_eq!(
                sent.network,
                Some(&net.as_bytes()[..]),
                "every datagram tagged"
            );
        }
        out.clear();
        node.handle_datagram(addr(8), &ping_of(Some(&other)), Time::ZERO, &mut out);
        node.handle_datagram(addr(10), &ping_of(None), Time::ZERO, &mut out);
        assert!(out.is_empty(), "no answer to, nor ping of, another network");
        assert_eq!(node.stats().foreign_network, 2);
    }

    #[test]
    fn a_public_node_drops_private_messages_and_sends_mainline_bytes() {
        let node = node_with_router(addr(9));
        let mut out = Output::new();
        let net = NetworkId::from_name("blue").expect("name");
        node.handle_datagram(addr(7), &ping_of(Some(&net)), Time::ZERO, &mut out);
        assert!(out.is_empty());
        assert_eq!(node.stats().foreign_network, 1);
        node.handle_datagram(
            addr(7),
            &ping_from(Id::sha1(b"x"), b"aa"),
            Time::ZERO,
            &mut out,
        );
        assert_eq!(replies(&out).len(), 1);
        for (_, datagram) in out.datagrams() {
            assert!(datagram.ends_with(b"1:y1:re") || datagram.ends_with(b"1:y1:qe"));
            assert_eq!(wire::decode(datagram).expect("decode").network, None);
        }
    }

    #[test]
    fn names_are_checked_and_ids_print_as_hex() {
        assert!(NetworkId::from_name("").is_err());
        assert!(NetworkId::from_name(&"x".repeat(256)).is_err());
        let id = NetworkId::from_bytes([0xab; NETWORK_ID_LEN]);
        assert_eq!(id.to_string(), "abababababababab");
    }
}
