//! Subscriptions in the simulator: subscribe nodes to a mutable item, publish
//! versions of it, and see which node got which version when
//! ([`Swarm::subscribe_from`], [`Swarm::put_mutable_from`], [`Swarm::take_updates`]);
//! or to the peers of an info-hash, announced with [`Swarm::announce_from`]
//! ([`Swarm::subscribe_peers_from`], [`Swarm::take_peer_updates`]).

use std::net::SocketAddr;

use super::Swarm;
use crate::error::Error;
use crate::id::{Id, NodeInfo};
use crate::keypair::{Keypair, PUBLIC_KEY_LEN};
use crate::node::ops::typed;
use crate::node::{MutablePut, MutableStored, OpError, Outcome, Request};
use crate::store::MutableItem;
use crate::time::Time;
use crate::wire::bencode;

/// One version delivered to one subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The subscribing node's index.
    pub node: usize,
    /// The version's sequence number.
    pub seq: i64,
    /// When it was delivered (virtual time).
    pub at: Time,
}

/// One peer delivered to one subscriber of an info-hash's peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerDelivery {
    /// The subscribing node's index.
    pub node: usize,
    /// The info-hash.
    pub info_hash: Id,
    /// The peer announced.
    pub peer: SocketAddr,
    /// When it was delivered (virtual time).
    pub at: Time,
}

/// Versions and peers delivered since the last [`Swarm::take_updates`] and
/// [`Swarm::take_peer_updates`].
#[derive(Debug, Default)]
pub(super) struct Updates {
    seen: Vec<Delivery>,
    peers: Vec<PeerDelivery>,
}

impl Swarm {
    pub(super) fn on_update(&mut self, node: u32, item: &MutableItem, now: Time) {
        self.updates.seen.push(Delivery {
            node: node as usize,
            seq: item.seq,
            at: now,
        });
    }

    pub(super) fn on_peers(&mut self, node: u32, info_hash: Id, peers: &[SocketAddr], now: Time) {
        self.updates
            .peers
            .extend(peers.iter().map(|&peer| PeerDelivery {
                node: node as usize,
                info_hash,
                peer,
                at: now,
            }));
    }

    /// Node `node` subscribes to the peers of `info_hash`: a lookup of the
    /// info-hash, then `dipsea_sub` to the closest nodes, which push each peer
    /// announced to them from then on. Returns the nodes asked.
    pub fn subscribe_peers_from(
        &mut self,
        node: usize,
        info_hash: Id,
    ) -> Result<Vec<NodeInfo>, Error> {
        let Some(n) = self.node(node) else {
            return Err(OpError::Shutdown.into());
        };
        n.add_peer_subscription(&info_hash)?;
        typed(
            self.run_one(node, Request::Subscribe(info_hash)),
            Outcome::into_nodes,
        )
    }

    /// The peers subscribers were delivered since the last call, in order.
    pub fn take_peer_updates(&mut self) -> Vec<PeerDelivery> {
        std::mem::take(&mut self.updates.peers)
    }

    /// Node `node` subscribes to the mutable item of `public_key` and `salt`: a
    /// lookup, then `dipsea_sub` to the closest nodes. Returns the nodes asked.
    pub fn subscribe_from(
        &mut self,
        node: usize,
        public_key: &[u8; PUBLIC_KEY_LEN],
        salt: &[u8],
    ) -> Result<Vec<NodeInfo>, Error> {
        let Some(n) = self.node(node) else {
            return Err(OpError::Shutdown.into());
        };
        let (target, _) = n.add_subscription(public_key, salt)?;
        typed(
            self.run_one(node, Request::Subscribe(target)),
            Outcome::into_nodes,
        )
    }

    /// Node `node` publishes `value` as version `seq` of `keypair`'s mutable item
    /// with `salt` (a lookup, then `put` to the k closest).
    pub fn put_mutable_from(
        &mut self,
        node: usize,
        keypair: &Keypair,
        salt: &[u8],
        value: &[u8],
        seq: i64,
    ) -> Result<MutableStored, Error> {
        let request = Request::PutMutable {
            keypair: Box::new(keypair.clone()),
            v: bencode::encode_bytes(value),
            options: MutablePut {
                salt: salt.to_vec(),
                seq: Some(seq),
                cas: None,
            },
        };
        typed(self.run_one(node, request), Outcome::into_stored_mutable)
    }

    /// The versions subscribers were delivered since the last call, in order.
    pub fn take_updates(&mut self) -> Vec<Delivery> {
        std::mem::take(&mut self.updates.seen)
    }
}
