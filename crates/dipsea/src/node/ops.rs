//! The operations a user asks of a node, and what they return.

use std::net::SocketAddr;

use crate::id::{Id, NodeInfo};
use crate::lookup::LookupStats;

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
    },
    /// A BEP 44 immutable item by key (stops at the first value that hashes to it).
    Get(Id),
    /// Stores a BEP 44 immutable item: `value` is the bencoded `v`; its key is its
    /// SHA-1. Also remembered for re-publishing.
    Put(Vec<u8>),
    /// A `ping` of one address.
    Ping(SocketAddr),
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
