//! dipsea: a modular distributed hash table speaking the BitTorrent Mainline DHT protocol.
//!
//! The crate is sans-I/O at its core: [`wire`] decodes and encodes KRPC, [`routing`]
//! keeps the k-buckets, [`store`] holds what the node stores for others, and [`rpc`]
//! answers queries from that shared state. Every structure is lock-sharded so many
//! threads can use it at once. See `docs/design.md` for the internals.
//!
//! The repository README follows; its Rust examples are compiled as doctests.
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod error;
pub mod id;
pub mod keypair;
pub mod keyspace;
pub mod lookup;
pub mod node;
pub mod onehop;
pub mod push;
pub mod routing;
pub mod rpc;
pub mod sim;
pub mod store;
pub mod subscribe;
pub mod time;
pub mod wire;

/// The user guide (`docs/guide.md`): installing, a first node, the public network, a
/// private network, tuning limits, reading stats. Its Rust examples compile as doctests.
#[doc = include_str!("../guide.md")]
pub mod guide {}

pub use error::Error;
pub use id::{Distance, Id, IdError, NodeInfo, ID_BITS, ID_LEN};
pub use keypair::Keypair;
pub use lookup::{Lookup, LookupConfig, LookupStats, ALPHA};
pub use node::udp::{BlockingNode, NodeBuilder, NodeHandle, PutResult};
pub use node::udp::{
    BlockingPeerSubscription, BlockingSubscription, PeerSubscription, Subscription,
};
pub use node::QueryCounts;
pub use node::{
    ConfigOption, MutablePut, MutableStored, MutableValue, Node, NodeConfig, NodeStats, OpError,
    OpId, OpResult, OptionKind, Outcome, RateLimitConfig, Request,
};
pub use node::{InfohashSamples, ScrapeEstimate};
pub use routing::{RoutingConfig, RoutingTable};
pub use sim::{BroadcastReport, Latency, Swarm, SwarmConfig, SwarmStats};
pub use store::{MutableItem, Store, StoreConfig, StoreError, StoreStats};
pub use time::Time;
