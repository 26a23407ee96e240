//! Push: broadcast to every node, or to every node of a key range, over the Kademlia
//! overlay's own structure.
//!
//! Entry points: [`Broadcast::sign`] makes a signed broadcast; [`Fanout::start`] says
//! which contacts to send it to and follows their acknowledgements;
//! [`Receiver::admit`] decides whether a received one is delivered and forwarded. All
//! of it is sans-I/O: the node feeds it contacts, datagrams and the time.
//!
//! # The broadcast tree
//!
//! El-Ansary et al. ("Efficient Broadcast in Structured P2P Networks", IPTPS 2003), in
//! Kademlia's form (Czirkos and Hosszú, Computer Networks 57, 2013; Kadcast, AFT 2019):
//! a node is made responsible for the **subtree of height h** around its own id, the
//! ids that share at least `160 - h` leading bits with it ([`in_subtree`]). It delivers
//! the message, then hands each non-empty bucket inside that subtree — buckets
//! `160 - h` to 159, bucket `i` holding the contacts that share exactly `i` bits with
//! it — to `beta` of that bucket's contacts, each now responsible for that bucket's
//! subtree, of height `159 - i` ([`delegate`]). The subtrees are disjoint and, with our
//! own id, make up the whole subtree of height h: with beta = 1 and tables that know a
//! node in every non-empty sibling subtree (Kademlia's invariant) every node gets the
//! message exactly once, N - 1 messages, depth about log2 N.
//!
//! A **key-range multicast** is the same broadcast over the subtree of a prefix
//! ([`KeyRange`]): the origin routes into the range (a lookup of the prefix), then
//! starts the broadcast inside it at height `160 - prefix bits`.
//!
//! # Loss and churn
//!
//! Each hand-off is a query that the receiver acknowledges; when one fails, the
//! subtree is handed to the next contact of the same bucket ([`Fanout::on_failure`]).
//! With beta > 1 the same subtree is covered by several contacts, and a node that
//! gets the message twice drops the second copy ([`SeenWindow`], by origin and
//! sequence number).
//!
//! # Safety
//!
//! A broadcast is signed by its origin's ed25519 key over its sequence number, range
//! and payload ([`crate::wire::push::signed_bytes`]); the height, which changes at each
//! hop, is not signed. The payload is at most [`MAX_PAYLOAD`] bytes. A node delivers
//! and forwards only what its [`AcceptPolicy`] admits: none, those of a set of origin
//! keys, or any origin within a per-origin and a per-IP rate ([`BroadcastConfig`]).
//! The query method is a dipsea extension (`dipsea_bcast`): a node sends it only to
//! contacts whose client version says they speak it ([`speaks_push`]), so nodes of
//! other implementations never receive one and no broadcast fans out over the public
//! Mainline network.

mod dedup;
mod fanout;
mod message;
mod policy;
mod range;
mod receive;
mod seq;
mod sign;
mod tree;

pub use crate::wire::push::MAX_PAYLOAD;
pub use dedup::{Seen, SeenWindow, WINDOW};
pub use fanout::{Fanout, FanoutStats, LAST_CONTACT_ATTEMPTS};
pub use message::Broadcast;
pub use policy::{AcceptPolicy, BroadcastConfig, KeysFileError, Rate};
pub use range::{in_subtree, KeyRange, RangeError};
pub use receive::{Admitted, Receiver, Refusal};
pub use seq::next_seq;
pub use sign::SigningKey;
pub use tree::{child_height, delegate, Delegation};

/// The first dipsea client version that speaks `dipsea_bcast`: `v` = `DS`, then
/// this version as two big-endian bytes or later.
pub const PUSH_VERSION: u16 = 2;

/// Whether a node whose messages carry client version `version` (the `v` key) speaks
/// the broadcast extension: a dipsea node (`DS`) of version [`PUSH_VERSION`] or later.
///
/// Anything else, including a message without `v`, does not: a broadcast is never
/// sent to it.
pub fn speaks_push(version: Option<&[u8]>) -> bool {
    match version {
        Some([b'D', b'S', hi, lo]) => u16::from_be_bytes([*hi, *lo]) >= PUSH_VERSION,
        _ => false,
    }
}

/// Why a broadcast could not be made or a range not parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The payload is over [`MAX_PAYLOAD`] bytes: send less, or send a key to it.
    #[error("payload of {len} bytes is over the {max}-byte bound")]
    PayloadTooBig {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The key range is malformed: see [`RangeError`].
    #[error(transparent)]
    Range(#[from] RangeError),
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod version_tests {
    use super::*;

    #[test]
    fn only_recent_dipsea_nodes_speak_push() {
        assert!(speaks_push(Some(b"DS\x00\x02")));
        assert!(speaks_push(Some(b"DS\x01\x00")));
        assert!(!speaks_push(Some(b"DS\x00\x01")));
        assert!(!speaks_push(Some(b"LT\x02\x01")));
        assert!(!speaks_push(Some(b"DS\x00")));
        assert!(!speaks_push(Some(b"DS\x00\x02x")));
        assert!(!speaks_push(None));
    }
}
