//! The operations a user asks of a node, and what they return.
//!
//! Entry point: [`Request`] in, [`OpResult`] out. The drivers hand their callers
//! typed results ([`PutResult`], a value, peers, nodes): [`typed`] is the one
//! conversion from an [`Outcome`] to them, shared by the UDP handle and the
//! simulator.

use std::net::SocketAddr;

use crate::error::Error;
use crate::id::{Id, NodeInfo};
use crate::keypair::{Keypair, PUBLIC_KEY_LEN, SIGNATURE_LEN};
use crate::lookup::LookupStats;
use crate::store::MutableItem;
use crate::wire::bencode;

/// Identifies one operation started on a node, unique for the node's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// An operation for the node to carry out over the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Joins the network: a lookup of the own id, seeded from the given routers
    /// (tried in turn) and the saved contacts.
    Bootstrap,
    /// The k closest nodes to a target (BEP 5 `find_node` lookup).
    FindNode(Id),
    /// Peers of an info-hash (BEP 5 `get_peers` lookup).
    GetPeers(Id),
    /// Announce that this node's peer port serves `info_hash` (BEP 5 `get_peers`
    /// lookup, then `announce_peer` to the k closest). `port: None` asks the
    /// receivers to use the UDP source port (`implied_port`).
    Announce {
        /// The torrent's info-hash.
        info_hash: Id,
        /// The peer port, or `None` for the UDP source port.
        port: Option<u16>,
        /// Whether this host has the whole torrent (BEP 33 `seed: 1`): scrapes
        /// count it among the seeds.
        seed: bool,
    },
    /// How many seeds and peers an info-hash has (BEP 33): a `get_peers` lookup
    /// with `scrape: 1` whose k closest answering nodes' bloom filters are united.
    Scrape(Id),
    /// Info-hashes stored by the nodes around a target (BEP 51): a lookup that asks
    /// `sample_infohashes` and collects every answer's samples.
    SampleInfohashes(Id),
    /// A BEP 44 immutable item by key (stops at the first value that hashes to it).
    Get(Id),
    /// Stores a BEP 44 immutable item: `value` is the bencoded `v`; its key is its
    /// SHA-1. Also remembered for re-publishing.
    Put(Vec<u8>),
    /// A `ping` of one address.
    Ping(SocketAddr),
    /// Publishes a BEP 44 mutable item: a `get` lookup of `SHA-1(public key ‖ salt)`
    /// (which finds the highest sequence number there and the write tokens), then
    /// `v` (bencoded) signed with `keypair` and stored on the k closest nodes. The
    /// signed item is remembered for re-publishing.
    PutMutable {
        /// The writer's key.
        keypair: Box<Keypair>,
        /// The value, bencoded.
        v: Vec<u8>,
        /// Salt, sequence number, compare-and-swap.
        options: MutablePut,
    },
    /// Stores an already signed mutable item again, as is (re-publishing).
    RepublishMutable(Box<MutableItem>),
    /// The newest verified version of the mutable item of `public_key` and `salt`
    /// (a `get` lookup that stops once enough nodes agree).
    GetMutable {
        /// The writer's public key.
        public_key: [u8; PUBLIC_KEY_LEN],
        /// The salt (empty for none).
        salt: Vec<u8>,
        /// Only a version with at least this sequence number.
        min_seq: Option<i64>,
    },
    /// Finds the storing nodes of a mutable item's target and subscribes to the
    /// closest ones (a `find_node` lookup, then `dipsea_sub`): the item must have a
    /// local listener first ([`Node::add_subscription`](super::Node::add_subscription)).
    /// Its outcome lists the nodes asked.
    Subscribe(Id),
}

/// Options of a mutable put ([`Request::PutMutable`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MutablePut {
    /// The salt (at most 64 bytes, BEP 44): several items under one key, one per salt.
    pub salt: Vec<u8>,
    /// The sequence number to store; `None`: one more than the highest the lookup
    /// finds on the network (1 if none).
    pub seq: Option<i64>,
    /// Compare-and-swap: store only where the current sequence number is this one;
    /// nodes holding another answer 301 ([`OpError::CasMismatch`]).
    pub cas: Option<i64>,
}

/// What a mutable put stored ([`Outcome::StoredMutable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MutableStored {
    /// Where the item lives: `SHA-1(public key ‖ salt)`; pass it to
    /// [`Node::unpublish`](super::Node::unpublish) to stop re-publishing it.
    pub target: Id,
    /// The sequence number stored.
    pub seq: i64,
    /// How many of the k closest nodes acknowledged it (at least 1).
    pub stored: usize,
}

/// A verified version of a mutable item, as a user gets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MutableValue {
    /// The value: the byte string if the item holds one, else its bencoding.
    pub value: Vec<u8>,
    /// The value exactly as signed and stored (bencoded).
    pub v: Vec<u8>,
    /// Its sequence number.
    pub seq: i64,
    /// The ed25519 signature over salt, seq and `v`, checked.
    pub signature: [u8; SIGNATURE_LEN],
    /// The writer's public key.
    pub public_key: [u8; PUBLIC_KEY_LEN],
    /// The salt it was published with.
    pub salt: Vec<u8>,
}

impl MutableValue {
    /// The user's view of a verified item.
    pub fn from_item(item: &MutableItem) -> MutableValue {
        let v = item.v.to_vec();
        MutableValue {
            value: bencode::decode_bytes(&v).map_or_else(|| v.clone(), <[u8]>::to_vec),
            v,
            seq: item.seq,
            signature: item.sig,
            public_key: item.k,
            salt: item.salt.to_vec(),
        }
    }
}

/// What a finished operation found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The bootstrap lookup finished; the table holds this many contacts.
    Bootstrapped {
        /// Contacts in the routing table afterwards.
        table_size: usize,
    },
    /// The closest nodes found, nearest first.
    Nodes(Vec<NodeInfo>),
    /// Peers found (possibly none) and the closest nodes that answered.
    Peers(Vec<SocketAddr>),
    /// How many of the closest nodes acknowledged an announce.
    Announced {
        /// Nodes that acknowledged.
        stored: usize,
    },
    /// The bencoded value of an immutable item, or `None` if no node had it.
    Value(Option<Vec<u8>>),
    /// How many nodes acknowledged a put, and the item's key.
    Stored {
        /// The item's key: SHA-1 of its bencoded value.
        key: Id,
        /// Nodes that acknowledged the store.
        stored: usize,
    },
    /// The pinged node's id.
    Pong(Id),
    /// A mutable item was stored.
    StoredMutable(MutableStored),
    /// The newest verified version of a mutable item, or `None` if no node had one
    /// (boxed: it would make every `Outcome` several times larger).
    Mutable(Option<Box<MutableItem>>),
    /// A scrape's estimates.
    Scrape(ScrapeEstimate),
    /// The info-hashes sampled around a target.
    Samples(InfohashSamples),
}

/// What a scrape found ([`Request::Scrape`]): BEP 33's estimates from the union of
/// the bloom filters of the k closest nodes that answered.
///
/// Each count is estimated from the zero bits of a 2048-bit filter with two bits
/// per IP; its standard error is about 1% up to a few hundred IPs, a few percent
/// up to 2,000 (see [`BloomFilter`](crate::wire::BloomFilter)). Seeds and peers
/// are counted by IP, so several peers behind one address count once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScrapeEstimate {
    /// Estimated seeds (peers that announced with `seed: 1`).
    pub seeds: f64,
    /// Estimated other peers (downloaders).
    pub peers: f64,
    /// How many of the closest nodes sent filters.
    pub responders: usize,
}

impl Eq for ScrapeEstimate {}

/// What a `sample_infohashes` lookup found ([`Request::SampleInfohashes`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InfohashSamples {
    /// The info-hashes, each once, in the order first seen.
    pub info_hashes: Vec<Id>,
    /// The nodes that answered with samples.
    pub responders: usize,
    /// The largest `num` among them: info-hashes one node said it stores.
    pub max_num: u64,
    /// The largest `interval` among them, in seconds: when to ask them again.
    pub interval: u64,
}

/// Why an operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// The routing table is empty and no bootstrap address is known: give the node
    /// a bootstrap address or wait for it to re-bootstrap.
    #[error("no route: the routing table is empty; add a bootstrap address")]
    NoRoute,
    /// No node answered in time (dead bootstrap address, network down); check the
    /// addresses and the network, then retry.
    #[error("timed out: no node answered")]
    Timeout,
    /// Nodes answered, but none of them accepted the put or announce.
    #[error("no node accepted the store (asked {asked})")]
    NotStored {
        /// How many nodes were asked.
        asked: usize,
    },
    /// The request itself is invalid (e.g. a value over BEP 44's 1000 bytes).
    #[error("bad input: {0}")]
    BadInput(String),
    /// The node is at one of its limits: [`NodeConfig::max_operations`] operations
    /// running, or (for a ping, which sends its query at once)
    /// [`NodeConfig::max_in_flight`] queries awaiting an answer. Retry when some
    /// finish.
    ///
    /// [`NodeConfig::max_operations`]: crate::NodeConfig::max_operations
    /// [`NodeConfig::max_in_flight`]: crate::NodeConfig::max_in_flight
    #[error("busy: {limit} {what} already; retry when some finish")]
    Busy {
        /// What is at its limit: `"operations running"` or
        /// `"queries awaiting an answer"`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The node is shutting down.
    #[error("the node is shut down")]
    Shutdown,
    /// The nodes refused a mutable put because their sequence number is not the
    /// `cas` given (BEP 44 error 301): get the item, then retry with its seq as `cas`.
    #[error("cas mismatch: the stored sequence number is not the one given as cas")]
    CasMismatch,
    /// The nodes refused a mutable put because they hold a newer version (BEP 44
    /// error 302): get the item and put with a higher sequence number (or none).
    #[error("sequence number too old: the nodes hold a newer version")]
    SeqTooOld,
}

/// An operation's result, with its lookup counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpResult {
    /// What it found, or why it failed.
    pub outcome: Result<Outcome, OpError>,
    /// Counters of the lookup phase (queries, answers, rounds).
    pub lookup: LookupStats,
    /// Datagrams this operation sent, all phases included.
    pub sent: u32,
}

/// What a put reports ([`NodeHandle::put`](crate::NodeHandle::put),
/// [`Swarm::put`](crate::Swarm::put)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PutResult {
    /// The item's key: SHA-1 of the bencoded value.
    pub key: Id,
    /// How many of the k closest nodes acknowledged it (at least 1).
    pub stored: usize,
}

/// The typed result of an operation: what `pick` takes out of its outcome, or its
/// error. An outcome `pick` does not take (one the request cannot produce) is a bug
/// in dipsea, reported as [`Error::Internal`].
pub fn typed<T, E: Into<Error>>(
    result: Result<Outcome, E>,
    pick: fn(Outcome) -> Result<T, Outcome>,
) -> Result<T, Error> {
    match result {
        Ok(outcome) => {
            pick(outcome).map_err(|other| Error::Internal(format!("unexpected outcome {other:?}")))
        }
        Err(e) => Err(e.into()),
    }
}

impl Outcome {
    /// The table size a bootstrap reports ([`typed`]'s picker).
    pub fn into_bootstrapped(self) -> Result<usize, Outcome> {
        match self {
            Outcome::Bootstrapped { table_size } => Ok(table_size),
            other => Err(other),
        }
    }

    /// What a put reports ([`typed`]'s picker).
    pub fn into_stored(self) -> Result<PutResult, Outcome> {
        match self {
            Outcome::Stored { key, stored } => Ok(PutResult { key, stored }),
            other => Err(other),
        }
    }

    /// The bencoded value a get found, if any ([`typed`]'s picker).
    pub fn into_value(self) -> Result<Option<Vec<u8>>, Outcome> {
        match self {
            Outcome::Value(v) => Ok(v),
            other => Err(other),
        }
    }

    /// How many nodes acknowledged an announce ([`typed`]'s picker).
    pub fn into_announced(self) -> Result<usize, Outcome> {
        match self {
            Outcome::Announced { stored } => Ok(stored),
            other => Err(other),
        }
    }

    /// What a mutable put stored ([`typed`]'s picker).
    pub fn into_stored_mutable(self) -> Result<MutableStored, Outcome> {
        match self {
            Outcome::StoredMutable(stored) => Ok(stored),
            other => Err(other),
        }
    }

    /// The newest verified mutable item a get found, if any ([`typed`]'s picker).
    pub fn into_mutable(self) -> Result<Option<Box<MutableItem>>, Outcome> {
        match self {
            Outcome::Mutable(item) => Ok(item),
            other => Err(other),
        }
    }

    /// A scrape's estimates ([`typed`]'s picker).
    pub fn into_scrape(self) -> Result<ScrapeEstimate, Outcome> {
        match self {
            Outcome::Scrape(estimate) => Ok(estimate),
            other => Err(other),
        }
    }

    /// The info-hashes a `sample_infohashes` lookup gathered ([`typed`]'s picker).
    pub fn into_samples(self) -> Result<InfohashSamples, Outcome> {
        match self {
            Outcome::Samples(samples) => Ok(samples),
            other => Err(other),
        }
    }

    /// The peers a `get_peers` found ([`typed`]'s picker).
    pub fn into_peers(self) -> Result<Vec<SocketAddr>, Outcome> {
        match self {
            Outcome::Peers(peers) => Ok(peers),
            other => Err(other),
        }
    }

    /// The nodes a `find_node` found ([`typed`]'s picker).
    pub fn into_nodes(self) -> Result<Vec<NodeInfo>, Outcome> {
        match self {
            Outcome::Nodes(nodes) => Ok(nodes),
            other => Err(other),
        }
    }

    /// The id a ping's answer carried ([`typed`]'s picker).
    pub fn into_pong(self) -> Result<Id, Outcome> {
        match self {
            Outcome::Pong(id) => Ok(id),
            other => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_the_request_cannot_produce_is_an_internal_error() {
        let wrong: Result<Outcome, OpError> = Ok(Outcome::Pong(Id::ZERO));
        let err = typed(wrong, Outcome::into_stored).expect_err("a pong is no put result");
        assert!(matches!(err, Error::Internal(_)), "{err:?}");
    }

    #[test]
    fn typed_passes_results_and_errors_through() {
        let key = Id::sha1(b"k");
        let ok: Result<Outcome, OpError> = Ok(Outcome::Stored { key, stored: 3 });
        assert_eq!(
            typed(ok, Outcome::into_stored).expect("stored"),
            PutResult { key, stored: 3 }
        );
        let failed: Result<Outcome, OpError> = Err(OpError::Timeout);
        assert!(typed(failed, Outcome::into_value)
            .expect_err("timeout")
            .is_timeout());
    }
}
