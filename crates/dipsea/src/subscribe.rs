//! Subscriptions to a BEP 44 mutable item or to the peers of an info-hash: a node
//! asks the nodes that store an item (or the info-hash's peers) to push each newer
//! version (each newly announced peer) to it, for a bounded time (a lease), instead
//! of polling.
//!
//! Entry points: [`SubscribeConfig`] (the bounds), [`Holders`] (a storing node's table
//! of who subscribed to what), [`verify_notify`] (a subscriber's checks of a pushed
//! item). The node ties them to the wire (`node/subscribe.rs`); the wire format is in
//! [`crate::wire::subscribe`].
//!
//! # Design
//!
//! - **Subscribe**: the subscriber looks the target (`SHA-1(k ‖ salt)`) up and sends
//!   `dipsea_sub` with a lease ([`SubscribeConfig::lease`], default 10 minutes) to the
//!   [`SubscribeConfig::redundancy`] closest nodes that speak the extension (default 4
//!   of the k = 8 that a put stores on). Each grants at most
//!   [`SubscribeConfig::max_lease`] and answers with the version it stores, if any.
//! - **Notify**: when a storing node stores a version newer than the last it pushed,
//!   it sends `dipsea_notify` with the whole signed item (k, salt, seq, sig, v) to every
//!   subscriber whose lease runs. The subscriber checks it as a `put` is checked
//!   (target, signature) and delivers each sequence number once, the highest only.
//! - **Renew**: the subscriber renews each lease halfway through it.
//! - **Re-subscribe**: a storing node that does not answer a renewal (or refuses it) is
//!   dropped, and a new lookup of the target finds a replacement among the closest
//!   nodes (at most one lookup per target every [`SubscribeConfig::retry`]).
//! - **Unsubscribe**: a lease of 0; also when the last local listener goes away. A
//!   subscription nobody renews ends with its lease.
//! - **Peers**: a subscription to an info-hash's peers is the same `dipsea_sub` with
//!   `p: 1`, sent to the closest nodes of the info-hash (those an `announce_peer`
//!   stores on); its answer carries the peers stored now (up to
//!   [`crate::wire::subscribe::MAX_NOTIFY_PEERS`]), and each accepted
//!   `announce_peer` is pushed to the subscribers as `dipsea_peers`. The subscriber
//!   delivers each peer once per subscription (it remembers the last
//!   [`MAX_SEEN_PEERS`]). Renewal, replacement, unsubscription and the limits are
//!   those of the mutable items, counted together ([`peers_key`]).
//! - **Limits**: a storing node holds at most [`SubscribeConfig::max_held`]
//!   subscriptions, at most [`SubscribeConfig::max_per_ip`] from one IP address; past
//!   them it answers KRPC error 202 and counts the refusal.
//!
//! The methods are a dipsea extension, sent only to contacts whose client version
//! says they speak it ([`speaks_subscribe`]): nodes of other implementations never
//! receive one.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::id::Id;
use crate::keypair::mutable_target;
use crate::rpc::signature::SignatureCache;
use crate::store::{MutableItem, MAX_SALT_LEN};
use crate::time::Time;
use crate::wire::error_code;
use crate::wire::subscribe::NotifyQuery;

/// The first dipsea client version that speaks `dipsea_sub` and `dipsea_notify`.
pub const SUBSCRIBE_VERSION: u16 = 3;

/// The first dipsea client version whose storing nodes push an info-hash's peers
/// (`dipsea_sub` with `p: 1`, `dipsea_peers`); a version-3 node would take `p: 1`
/// for a mutable item's subscription and never push.
pub const PEERS_SUBSCRIBE_VERSION: u16 = 4;

/// Whether a node whose messages carry client version `version` speaks the
/// subscription extension: a dipsea node (`DS`) of [`SUBSCRIBE_VERSION`] or later.
pub fn speaks_subscribe(version: Option<&[u8]>) -> bool {
    match version {
        Some([b'D', b'S', hi, lo]) => u16::from_be_bytes([*hi, *lo]) >= SUBSCRIBE_VERSION,
        _ => false,
    }
}

/// A node's subscription settings, as subscriber and as storing node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeConfig {
    /// The lease a subscriber asks for; renewed halfway through. Default 10 minutes.
    pub lease: Duration,
    /// The longest lease a storing node grants. Default 10 minutes.
    pub max_lease: Duration,
    /// How many of the closest storing nodes a subscriber subscribes to at once.
    /// Default 4.
    pub redundancy: usize,
    /// Most subscriptions a storing node holds, all subscribers together. Default
    /// 10,000.
    pub max_held: usize,
    /// Most subscriptions a storing node holds from one IP address. Default 64.
    pub max_per_ip: usize,
    /// Most items a node subscribes to itself. Default 1,024.
    pub max_active: usize,
    /// Shortest wait between two lookups that look for a replacement storing node
    /// of one subscription. Default 2 s.
    pub retry: Duration,
}

impl Default for SubscribeConfig {
    fn default() -> Self {
        SubscribeConfig {
            lease: Duration::from_secs(600),
            max_lease: Duration::from_secs(600),
            redundancy: 4,
            max_held: 10_000,
            max_per_ip: 64,
            max_active: 1_024,
            retry: Duration::from_secs(2),
        }
    }
}

/// Why a storing node refused a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeRefusal {
    /// It holds [`SubscribeConfig::max_held`] subscriptions already.
    #[error("too many subscriptions")]
    NodeFull,
    /// It holds [`SubscribeConfig::max_per_ip`] from this address already.
    #[error("too many subscriptions from this address")]
    IpFull,
}

impl SubscribeRefusal {
    /// The KRPC error code it is answered with: 202 (server error, as a full store).
    pub fn code(&self) -> i64 {
        error_code::SERVER
    }
}

/// Why a subscriber did not deliver a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotifyRefusal {
    /// This node holds no subscription to the target.
    #[error("not subscribed")]
    Unsolicited,
    /// The target is not `SHA-1(k ‖ salt)`, or the salt is over 64 bytes.
    #[error("target does not match the key and salt")]
    WrongTarget,
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
    /// Not newer than the version delivered already (acknowledged, not delivered).
    #[error("not newer than the version held")]
    Stale,
}

impl NotifyRefusal {
    /// The KRPC error code a refused notification is answered with (a stale one is
    /// acknowledged instead).
    pub fn code(&self) -> i64 {
        match self {
            NotifyRefusal::BadSignature => error_code::INVALID_SIGNATURE,
            _ => error_code::PROTOCOL,
        }
    }
}

/// Checks a pushed item as a BEP 44 `put` is checked: the target is `SHA-1(k ‖
/// salt)`, the salt at most 64 bytes, the value at most 1000 bytes, the signature
/// valid (checked through the receiving node's `signatures`, so a version pushed by
/// several storing nodes is checked once). The item, owned, when it passes.
pub fn verify_notify(
    q: &NotifyQuery<'_>,
    signatures: &SignatureCache,
) -> Result<MutableItem, NotifyRefusal> {
    if q.salt.len() > MAX_SALT_LEN
        || q.v.len() > crate::store::MAX_VALUE_LEN
        || mutable_target(q.k, q.salt) != q.target
    {
        return Err(NotifyRefusal::WrongTarget);
    }
    if !signatures.verify(q.k, q.salt, q.seq, q.v, q.sig) {
        return Err(NotifyRefusal::BadSignature);
    }
    Ok(MutableItem {
        k: *q.k,
        salt: q.salt.into(),
        seq: q.seq,
        sig: *q.sig,
        v: q.v.into(),
    })
}

/// Peers a subscriber to an info-hash's peers remembers having delivered, so that a
/// peer pushed by several storing nodes, or announced again, is delivered once.
pub const MAX_SEEN_PEERS: usize = 4_096;

/// The key under which a storing node holds the subscriptions to the peers of
/// `info_hash` (and a subscriber its own), apart from a mutable item whose target
/// were that info-hash: `SHA-1("dipsea-peers:" ‖ info_hash)`. One table, so the
/// limits count both kinds together.
pub fn peers_key(info_hash: &Id) -> Id {
    Id::sha1_concat(&[b"dipsea-peers:", info_hash.as_bytes()])
}

/// One subscriber of a target, as a storing node holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscriber {
    /// Its address, where notifications go.
    pub addr: SocketAddr,
    /// Its node id.
    pub id: Id,
    /// When its lease ends.
    pub expires: Time,
}

/// A storing node's subscriptions: who wants which target, until when; bounded in
/// all and per IP address.
#[derive(Debug, Default)]
pub struct Holders {
    by_target: HashMap<Id, Vec<Subscriber>>,
    /// The sequence number last pushed per target.
    pushed: HashMap<Id, i64>,
    per_ip: HashMap<IpAddr, usize>,
    held: usize,
}

impl Holders {
    /// An empty table.
    pub fn new() -> Holders {
        Holders::default()
    }

    /// Subscriptions held now (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.held
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Subscribes (or renews) `addr` to `target` until `expires`.
    pub fn subscribe(
        &mut self,
        target: Id,
        addr: SocketAddr,
        id: Id,
        expires: Time,
        config: &SubscribeConfig,
    ) -> Result<(), SubscribeRefusal> {
        let list = self.by_target.entry(target).or_default();
        if let Some(s) = list.iter_mut().find(|s| s.addr == addr) {
            s.expires = expires;
            s.id = id;
            return Ok(());
        }
        let refusal = if self.held >= config.max_held {
            Some(SubscribeRefusal::NodeFull)
        } else if self.per_ip.get(&addr.ip()).copied().unwrap_or(0) >= config.max_per_ip {
            Some(SubscribeRefusal::IpFull)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            if list.is_empty() {
                self.by_target.remove(&target);
            }
            return Err(refusal);
        }
        list.push(Subscriber { addr, id, expires });
        *self.per_ip.entry(addr.ip()).or_default() += 1;
        self.held += 1;
        Ok(())
    }

    /// Ends `addr`'s subscription to `target`; whether there was one.
    pub fn unsubscribe(&mut self, target: &Id, addr: SocketAddr) -> bool {
        let Some(list) = self.by_target.get_mut(target) else {
            return false;
        };
        let before = list.len();
        list.retain(|s| s.addr != addr);
        let removed = before - list.len();
        if list.is_empty() {
            self.by_target.remove(target);
            self.pushed.remove(target);
        }
        if removed > 0 {
            self.forget_ip(addr.ip(), removed);
        }
        removed > 0
    }

    fn forget_ip(&mut self, ip: IpAddr, n: usize) {
        self.held -= n;
        if let Some(count) = self.per_ip.get_mut(&ip) {
            *count = count.saturating_sub(n);
            if *count == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    /// Drops the subscriptions whose lease has ended by `now`.
    pub fn expire(&mut self, now: Time) {
        let mut gone = Vec::new();
        self.by_target.retain(|target, list| {
            list.retain(|s| {
                let live = s.expires > now;
                if !live {
                    gone.push(s.addr.ip());
                }
                live
            });
            if list.is_empty() {
                self.pushed.remove(target);
            }
            !list.is_empty()
        });
        for ip in gone {
            self.forget_ip(ip, 1);
        }
    }

    /// The subscribers of `key` whose lease runs at `now` (the peers of an info-hash
    /// are pushed to them on every accepted announce).
    pub fn live(&self, key: &Id, now: Time) -> Vec<Subscriber> {
        self.by_target
            .get(key)
            .map(|list| list.iter().filter(|s| s.expires > now).copied().collect())
            .unwrap_or_default()
    }

    /// The subscribers to push version `seq` of `target` to: those whose lease runs
    /// at `now`, if `seq` is newer than the last version pushed (each version is
    /// pushed once); none otherwise.
    pub fn to_notify(&mut self, target: &Id, seq: i64, now: Time) -> Vec<Subscriber> {
        let Some(list) = self.by_target.get(target) else {
            return Vec::new();
        };
        if self.pushed.get(target).is_some_and(|&last| last >= seq) {
            return Vec::new();
        }
        self.pushed.insert(*target, seq);
        list.iter().filter(|s| s.expires > now).copied().collect()
    }
}

#[cfg(test)]
mod tests;
