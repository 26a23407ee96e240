//! Subscriptions at the node: `dipsea_sub`, `dipsea_notify` and `dipsea_peers` answered, the
//! subscriptions this node holds for others (as a storing node) and those it holds
//! itself (as subscriber), renewed and replaced (the logic is in [`crate::subscribe`]).
//!
//! Entry points: [`Node::add_subscription`] registers a local listener (the driver
//! then runs [`Request::Subscribe`](super::Request::Subscribe), a lookup whose end
//! calls `subscribe_found`); [`Node::add_peer_subscription`] does the same for an
//! info-hash's peers; [`Node::remove_subscription`] drops one. `dispatch`
//! hands the three queries to `on_subscription_query`, answers to our `dipsea_sub`
//! to `on_subscribe_answer`, every stored mutable `put` to `notify_subscribers` and
//! every accepted `announce_peer` to `notify_peer_subscribers`; [`Node::tick`] calls
//! `tick_subscriptions` (renewals, lease expiry). A verified new version is reported
//! as [`Event::MutableUpdate`], new peers as [`Event::Peers`].
//!
//! Locks: the holders table and the active table are one mutex each, never held
//! together; the active one is held while a query is sent (an in-flight shard),
//! never the reverse.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::config::CLIENT_VERSION;
use super::ops::{OpError, Request};
use super::output::{Event, Output};
use super::Node;
use crate::id::{Id, NodeInfo};
use crate::keypair::{mutable_target, PUBLIC_KEY_LEN};
use crate::rpc::signature::SignatureCache;
use crate::store::{MutableItem, MAX_SALT_LEN};
use crate::subscribe::{
    peers_key, verify_notify, Holders, NotifyRefusal, SubscribeRefusal, MAX_SEEN_PEERS,
    PEERS_SUBSCRIBE_VERSION, SUBSCRIBE_VERSION,
};
use crate::time::Time;
use crate::wire::error_code;
use crate::wire::subscribe::{
    answer_lease, decode_notify, decode_peers, decode_subscribe, encode_subscribe_answer,
    NotifyQuery, PeersQuery, SubscribeQuery, MAX_NOTIFY_PEERS, NOTIFY_METHOD, PEERS_METHOD,
    SUBSCRIBE_METHOD,
};
use crate::wire::CompactPeers;
use crate::wire::Response;

/// Failed storing nodes a subscription remembers (skipped by its next lookups).
const MAX_FAILED: usize = 32;

/// How often a storing node sweeps ended leases.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Subscription counters.
#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) notifications_sent: AtomicU64,
    pub(super) notifications_received: AtomicU64,
    pub(super) refused_node: AtomicU64,
    pub(super) refused_ip: AtomicU64,
    pub(super) notify_unsolicited: AtomicU64,
    pub(super) notify_invalid: AtomicU64,
    pub(super) notify_stale: AtomicU64,
    pub(super) resubscribes: AtomicU64,
}

/// A storing node this node subscribed with.
#[derive(Debug, Clone, Copy)]
struct HeldBy {
    node: NodeInfo,
    /// When to renew; `Time::NEVER` while a subscribe or renewal awaits its answer.
    renew_at: Time,
}

/// The peers a subscription to an info-hash delivered (the last
/// [`MAX_SEEN_PEERS`]).
#[derive(Debug, Default)]
struct SeenPeers {
    set: HashSet<SocketAddr>,
    order: VecDeque<SocketAddr>,
}

impl SeenPeers {
    /// Records `peer`; whether it is new.
    fn insert(&mut self, peer: SocketAddr) -> bool {
        if !self.set.insert(peer) {
            return false;
        }
        self.order.push_back(peer);
        if self.order.len() > MAX_SEEN_PEERS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// One item (or info-hash's peers) this node subscribes to, keyed by the item's
/// target (or [`peers_key`] of the info-hash).
#[derive(Debug)]
struct Sub {
    /// What is looked up and sent as the topic `c`: the item's target, or the
    /// info-hash.
    lookup: Id,
    /// `Some` for a subscription to an info-hash's peers: those delivered.
    peers: Option<Box<SeenPeers>>,
    k: [u8; PUBLIC_KEY_LEN],
    salt: Box<[u8]>,
    /// Local listeners; the subscription ends when none is left.
    refs: usize,
    /// The newest version delivered.
    latest: Option<MutableItem>,
    nodes: Vec<HeldBy>,
    failed: Vec<Id>,
    /// Whether a lookup for storing nodes runs.
    looking: bool,
    /// No new lookup before this.
    next_lookup: Time,
}

impl Sub {
    /// A subscription of one listener to nothing yet: callers set the topic.
    fn new() -> Sub {
        Sub {
            lookup: Id::ZERO,
            peers: None,
            k: [0; PUBLIC_KEY_LEN],
            salt: Box::default(),
            refs: 1,
            latest: None,
            nodes: Vec::new(),
            failed: Vec::new(),
            looking: false,
            next_lookup: Time::ZERO,
        }
    }
}

#[derive(Debug, Default)]
struct Active {
    /// By target; ordered, so seeded simulations repeat.
    subs: BTreeMap<Id, Sub>,
    /// Our `dipsea_sub` queries in flight: transaction id → target and node.
    tids: HashMap<u32, (Id, Id)>,
}

#[derive(Debug)]
struct HolderState {
    holders: Holders,
    next_sweep: Time,
    /// Our notifications in flight: transaction id → target and subscriber. One
    /// that goes unanswered ends that subscription: a subscribe from a spoofed
    /// address costs its victim one notification (and its retry), no more.
    notifying: HashMap<u32, (Id, SocketAddr)>,
}

/// The node's subscription state.
#[derive(Debug)]
pub(super) struct Subscriptions {
    holders: Mutex<HolderState>,
    active: Mutex<Active>,
    pub(super) counters: Counters,
}

impl Subscriptions {
    fn new() -> Subscriptions {
        Subscriptions {
            holders: Mutex::new(HolderState {
                holders: Holders::new(),
                next_sweep: Time::ZERO,
                notifying: HashMap::new(),
            }),
            active: Mutex::new(Active::default()),
            counters: Counters::default(),
        }
    }

    /// Subscriptions held for others.
    pub(super) fn held(&self) -> usize {
        self.holders.lock().holders.len()
    }

    /// Items this node subscribes to.
    pub(super) fn active(&self) -> usize {
        self.active.lock().subs.len()
    }
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

impl Node {
    /// The subscription state, built on the node's first subscription, subscriber
    /// or notification.
    fn subs(&self) -> &Subscriptions {
        self.subscriptions.get_or_init(Subscriptions::new)
    }

    /// Inline bytes of the subscription state, once built.
    pub(super) fn subscription_state_bytes(&self) -> usize {
        self.subscriptions
            .get()
            .map_or(0, |_| std::mem::size_of::<Subscriptions>())
    }

    /// Registers a local listener of the mutable item of `public_key` and `salt`:
    /// returns its target and the newest version known already (a second listener
    /// of one item starts from it). The driver then runs
    /// [`Request::Subscribe`] with the target unless one runs already.
    ///
    /// Errors: [`OpError::BadInput`] for a salt over 64 bytes or on a read-only
    /// node; [`OpError::Busy`] past [`SubscribeConfig::max_active`](crate::subscribe::SubscribeConfig::max_active) items.
    pub fn add_subscription(
        &self,
        public_key: &[u8; PUBLIC_KEY_LEN],
        salt: &[u8],
    ) -> Result<(Id, Option<MutableItem>), OpError> {
        if salt.len() > MAX_SALT_LEN {
            return Err(OpError::BadInput(format!(
                "salt of {} bytes is over the {MAX_SALT_LEN}-byte bound",
                salt.len()
            )));
        }
        let target = mutable_target(public_key, salt);
        let latest = self.register(target, || Sub {
            lookup: target,
            peers: None,
            k: *public_key,
            salt: salt.into(),
            ..Sub::new()
        })?;
        Ok((target, latest))
    }

    /// Registers a local listener of the peers of `info_hash`: returns the key of the
    /// subscription ([`peers_key`], for [`Node::remove_subscription`]). The driver
    /// then runs [`Request::Subscribe`] with the info-hash unless one runs already.
    ///
    /// Errors: [`OpError::BadInput`] on a read-only node; [`OpError::Busy`] past
    /// [`SubscribeConfig::max_active`](crate::subscribe::SubscribeConfig::max_active)
    /// subscriptions (items and info-hashes together).
    pub fn add_peer_subscription(&self, info_hash: &Id) -> Result<Id, OpError> {
        let key = peers_key(info_hash);
        self.register(key, || Sub {
            lookup: *info_hash,
            peers: Some(Box::default()),
            ..Sub::new()
        })?;
        Ok(key)
    }

    /// Adds a local listener to the subscription `key`, made by `make` when it is
    /// the first: returns the newest item version known already. The checks both
    /// kinds share: not on a read-only node, at most `max_active` subscriptions.
    fn register(
        &self,
        key: Id,
        make: impl FnOnce() -> Sub,
    ) -> Result<Option<MutableItem>, OpError> {
        if self.config.read_only {
            return Err(OpError::BadInput(
                "a read-only node (BEP 43) answers no queries, so it cannot be notified".into(),
            ));
        }
        let mut active = self.subs().active.lock();
        let limit = self.config.subscribe.max_active;
        if let Some(sub) = active.subs.get_mut(&key) {
            sub.refs += 1;
            return Ok(sub.latest.clone());
        }
        if active.subs.len() >= limit {
            return Err(OpError::Busy {
                what: "subscriptions",
                limit,
            });
        }
        active.subs.insert(key, make());
        Ok(None)
    }

    /// Drops one local listener of `target` (an item's target, or the key
    /// [`Node::add_peer_subscription`] returned); with the last one, the storing nodes
    /// are told to stop (a lease of 0, best effort) and the subscription ends.
    pub fn remove_subscription(&self, target: &Id, now: Time, out: &mut Output) {
        let mut active = self.subs().active.lock();
        let Some(sub) = active.subs.get_mut(target) else {
            return;
        };
        sub.refs = sub.refs.saturating_sub(1);
        if sub.refs > 0 {
            return;
        }
        let Some(sub) = active.subs.remove(target) else {
            return;
        };
        active.tids.retain(|_, (t, _)| t != target);
        drop(active);
        let topic = (sub.lookup, sub.peers.is_some());
        for held in sub.nodes {
            self.send_subscribe(held.node, topic, 0, false, now, out);
        }
    }

    /// Whether the subscription to `target` has asked at least one storing node.
    pub fn subscribed_anywhere(&self, target: &Id) -> bool {
        self.subscriptions.get().is_some_and(|subs| {
            subs.active
                .lock()
                .subs
                .get(target)
                .is_some_and(|s| !s.nodes.is_empty())
        })
    }

    /// Whether `id` is known to speak the subscription extension, for an
    /// info-hash's peers when `peers`.
    pub fn speaks_subscribe(&self, id: &Id, peers: bool) -> bool {
        let since = if peers {
            PEERS_SUBSCRIBE_VERSION
        } else {
            SUBSCRIBE_VERSION
        };
        self.speaker_version(id).is_some_and(|v| v >= since)
    }

    /// Sends a `dipsea_sub` of `lease` seconds for `topic` (the item's target or the
    /// info-hash, and whether it is the latter's peers); its transaction id (tracked
    /// when `resend`: an answer is awaited).
    fn send_subscribe(
        &self,
        to: NodeInfo,
        (target, peers): (Id, bool),
        lease: u32,
        resend: bool,
        now: Time,
        out: &mut Output,
    ) -> Option<u32> {
        let own = self.id;
        self.send_encoded(to.addr, Some(to.id), None, resend, now, out, |tid, buf| {
            SubscribeQuery {
                tid,
                version: Some(&CLIENT_VERSION),
                id: own,
                target,
                lease,
                peers,
            }
            .encode(buf)
        })
    }

    /// The end of a [`Request::Subscribe`] lookup of `target`: subscribes the
    /// subscriptions that look it up (to the item of that target, to the peers of
    /// that info-hash) to the closest nodes that speak the extension, up to the
    /// redundancy; returns those asked.
    pub(super) fn subscribe_found(
        &self,
        target: Id,
        closest: &[NodeInfo],
        now: Time,
        out: &mut Output,
    ) -> Vec<NodeInfo> {
        let mut asked = Vec::new();
        for key in [target, peers_key(&target)] {
            asked.extend(self.subscribe_found_for(key, target, closest, now, out));
        }
        asked.sort_by_key(|n| n.id);
        asked.dedup_by_key(|n| n.id);
        asked
    }

    fn subscribe_found_for(
        &self,
        key: Id,
        target: Id,
        closest: &[NodeInfo],
        now: Time,
        out: &mut Output,
    ) -> Vec<NodeInfo> {
        let lease = secs(self.config.subscribe.lease);
        let want = self.config.subscribe.redundancy.max(1);
        let mut active = self.subs().active.lock();
        let Active { subs, tids } = &mut *active;
        let Some(sub) = subs.get_mut(&key).filter(|s| s.lookup == target) else {
            return Vec::new();
        };
        let topic = (sub.lookup, sub.peers.is_some());
        sub.looking = false;
        sub.next_lookup = now + self.config.subscribe.retry;
        let mut asked = Vec::new();
        for node in closest {
            if sub.nodes.len() >= want {
                break;
            }
            let known = sub.nodes.iter().any(|h| h.node.id == node.id);
            if known || sub.failed.contains(&node.id) || !self.speaks_subscribe(&node.id, topic.1) {
                continue;
            }
            if let Some(tid) = self.send_subscribe(*node, topic, lease, true, now, out) {
                tids.insert(tid, (key, node.id));
                sub.nodes.push(HeldBy {
                    node: *node,
                    renew_at: Time::NEVER,
                });
                asked.push(*node);
            }
        }
        if asked.is_empty() && sub.nodes.len() < want {
            // Nobody new: the next lookup may try the failed ones again.
            sub.failed.clear();
        }
        asked
    }

    /// A [`Request::Subscribe`] lookup of `target` that could not run or found
    /// nobody.
    pub(super) fn subscribe_lookup_failed(&self, target: &Id, now: Time) {
        let mut active = self.subs().active.lock();
        for key in [*target, peers_key(target)] {
            if let Some(sub) = active.subs.get_mut(&key).filter(|s| s.lookup == *target) {
                sub.looking = false;
                sub.next_lookup = now + self.config.subscribe.retry;
            }
        }
    }

    /// Starts a lookup for storing nodes of the subscription `key` unless one runs
    /// or ran lately.
    fn look_for_holders(&self, key: Id, now: Time, out: &mut Output) {
        let target = {
            let mut active = self.subs().active.lock();
            let Some(sub) = active.subs.get_mut(&key) else {
                return;
            };
            if sub.looking || now < sub.next_lookup {
                return;
            }
            sub.looking = true;
            sub.lookup
        };
        self.start(self.next_op_id(), Request::Subscribe(target), now, out);
    }

    /// Handles a `dipsea_sub` or `dipsea_notify` query; false if `method` is
    /// neither.
    pub(super) fn on_subscription_query(
        &self,
        from: SocketAddr,
        method: &[u8],
        data: &[u8],
        now: Time,
        out: &mut Output,
    ) -> bool {
        match method {
            SUBSCRIBE_METHOD => self.on_subscribe(from, data, now, out),
            NOTIFY_METHOD => self.on_notify(from, data, out),
            PEERS_METHOD => self.on_peers(from, data, out),
            _ => return false,
        }
        true
    }

    fn reply_decode_error(
        &self,
        from: SocketAddr,
        data: &[u8],
        error: &dyn std::fmt::Display,
        out: &mut Output,
    ) {
        if let Some(tid) = crate::wire::query_tid(data) {
            let reason = error.to_string();
            self.reply_error(from, tid, error_code::PROTOCOL, reason.as_bytes(), out);
        }
    }

    /// A subscription, renewal or unsubscription from `from` (as a storing node).
    fn on_subscribe(&self, from: SocketAddr, data: &[u8], now: Time, out: &mut Output) {
        let q = match decode_subscribe(data) {
            Ok(q) => q,
            Err(error) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                return self.reply_decode_error(from, data, &error, out);
            }
        };
        let config = &self.config.subscribe;
        let granted = q.lease.min(secs(config.max_lease));
        let key = if q.peers {
            peers_key(&q.target)
        } else {
            q.target
        };
        let result = {
            let mut h = self.subs().holders.lock();
            if granted == 0 {
                h.holders.unsubscribe(&key, from);
                Ok(())
            } else {
                let expires = now + Duration::from_secs(u64::from(granted));
                h.holders.subscribe(key, from, q.id, expires, config)
            }
        };
        if let Err(refusal) = result {
            let counter = match refusal {
                SubscribeRefusal::NodeFull => &self.subs().counters.refused_node,
                SubscribeRefusal::IpFull => &self.subs().counters.refused_ip,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let reason = refusal.to_string();
            self.reply_error(from, q.tid, refusal.code(), reason.as_bytes(), out);
            return;
        }
        let item = (granted > 0 && !q.peers)
            .then(|| self.store.get_mutable(&q.target, now))
            .flatten();
        let mut peers = Vec::new();
        if granted > 0 && q.peers {
            self.store
                .get_peers(&q.target, MAX_NOTIFY_PEERS, now, &mut peers);
        }
        let own = self.id;
        self.send_datagram(out, from, |buf| {
            encode_subscribe_answer(
                q.tid,
                &CLIENT_VERSION,
                &own,
                granted,
                item.as_deref(),
                &peers,
                buf,
            )
        });
        self.count_sent(1, out.last_datagram().len());
    }

    /// A pushed version (as subscriber): checked, acknowledged, delivered when new.
    fn on_notify(&self, from: SocketAddr, data: &[u8], out: &mut Output) {
        let q = match decode_notify(data) {
            Ok(q) => q,
            Err(error) => {
                self.subs()
                    .counters
                    .notify_invalid
                    .fetch_add(1, Ordering::Relaxed);
                return self.reply_decode_error(from, data, &error, out);
            }
        };
        let verdict = self.take_notify(&q, out);
        let c = &self.subs().counters;
        match verdict {
            Ok(()) => c.notifications_received.fetch_add(1, Ordering::Relaxed),
            Err(NotifyRefusal::Stale) => c.notify_stale.fetch_add(1, Ordering::Relaxed),
            Err(NotifyRefusal::Unsolicited) => c.notify_unsolicited.fetch_add(1, Ordering::Relaxed),
            Err(_) => c.notify_invalid.fetch_add(1, Ordering::Relaxed),
        };
        match verdict {
            Ok(()) | Err(NotifyRefusal::Stale) => self.acknowledge_notify(from, q.tid, out),
            Err(refusal) => {
                // Counted above, by reason.
                let reason = refusal.to_string();
                self.reply_error(from, q.tid, refusal.code(), reason.as_bytes(), out);
            }
        }
    }

    /// Pushed peers of an info-hash (as subscriber): acknowledged and the new ones
    /// delivered when this node subscribes to that info-hash's peers; refused
    /// (unsolicited) otherwise.
    fn on_peers(&self, from: SocketAddr, data: &[u8], out: &mut Output) {
        let c = &self.subs().counters;
        let q = match decode_peers(data) {
            Ok(q) => q,
            Err(error) => {
                c.notify_invalid.fetch_add(1, Ordering::Relaxed);
                return self.reply_decode_error(from, data, &error, out);
            }
        };
        let taken = {
            let mut active = self.subs().active.lock();
            active
                .subs
                .get_mut(&peers_key(&q.info_hash))
                .filter(|s| s.lookup == q.info_hash)
                .and_then(|sub| sub.peers.as_deref_mut())
                .map(|seen| deliver_peers(seen, q.info_hash, q.peers, out))
        };
        if taken.is_none() {
            c.notify_unsolicited.fetch_add(1, Ordering::Relaxed);
            let refusal = NotifyRefusal::Unsolicited;
            let reason = refusal.to_string();
            self.reply_error(from, q.tid, refusal.code(), reason.as_bytes(), out);
            return;
        }
        c.notifications_received.fetch_add(1, Ordering::Relaxed);
        self.acknowledge_notify(from, q.tid, out);
    }

    fn acknowledge_notify(&self, to: SocketAddr, tid: &[u8], out: &mut Output) {
        let own = self.id;
        self.send_datagram(out, to, |buf| {
            crate::wire::Message {
                tid,
                version: Some(&CLIENT_VERSION),
                ip: None,
                read_only: false,
                network: None,
                kind: crate::wire::MessageKind::Response(Response::new(own)),
            }
            .encode(buf)
        });
        self.count_sent(1, out.last_datagram().len());
    }

    /// Checks a pushed item against our subscriptions; delivers it when newer.
    fn take_notify(&self, q: &NotifyQuery<'_>, out: &mut Output) -> Result<(), NotifyRefusal> {
        // A subscription to an info-hash's peers takes no item.
        let is_item = |s: &&mut Sub| s.peers.is_none();
        let subscribed = self
            .subs()
            .active
            .lock()
            .subs
            .get(&q.target)
            .is_some_and(|s| s.peers.is_none());
        if !subscribed {
            return Err(NotifyRefusal::Unsolicited);
        }
        // Verified outside the lock: a signature check is the costly part.
        let item = verify_notify(q, &self.signatures)?;
        let mut active = self.subs().active.lock();
        let sub = active
            .subs
            .get_mut(&q.target)
            .filter(is_item)
            .ok_or(NotifyRefusal::Unsolicited)?;
        deliver(sub, item, out)
    }

    /// The answer to one of our `dipsea_sub` or `dipsea_notify` queries (`None`: a
    /// KRPC error or no answer in time), when `tid` was one. A notification not
    /// acknowledged ends that subscriber's subscription.
    pub(super) fn on_subscribe_answer(
        &self,
        tid: u32,
        answer: Option<(&[u8], &Response<'_>)>,
        now: Time,
        out: &mut Output,
    ) {
        // Every answer without an operation comes here: a node that never
        // subscribed has nothing to match it with.
        let Some(subs) = self.subscriptions.get() else {
            return;
        };
        {
            let mut h = subs.holders.lock();
            if let Some((target, subscriber)) = h.notifying.remove(&tid) {
                if answer.is_none() {
                    h.holders.unsubscribe(&target, subscriber);
                }
                return;
            }
        }
        let target = {
            let mut active = subs.active.lock();
            let Some((target, node)) = active.tids.remove(&tid) else {
                return;
            };
            let Some(sub) = active.subs.get_mut(&target) else {
                return;
            };
            let Some(pos) = sub.nodes.iter().position(|h| h.node.id == node) else {
                return;
            };
            let lease = answer.and_then(|(data, _)| answer_lease(data)).unwrap_or(0);
            if lease > 0 {
                sub.nodes[pos].renew_at = now + Duration::from_secs(u64::from(lease)) / 2;
                if let Some((_, r)) = answer {
                    let counters = &subs.counters;
                    let info_hash = sub.lookup;
                    match sub.peers.as_deref_mut() {
                        Some(seen) => {
                            if let Some(peers) = r.values {
                                deliver_peers(seen, info_hash, peers, out);
                            }
                        }
                        None => {
                            take_answered_item(sub, &target, r, counters, &self.signatures, out)
                        }
                    }
                }
                self.want_tick_at(sub.nodes[pos].renew_at);
                return;
            }
            // Refused, gone or granted nothing: find a replacement.
            sub.nodes.swap_remove(pos);
            if sub.failed.len() >= MAX_FAILED {
                sub.failed.remove(0);
            }
            sub.failed.push(node);
            subs.counters.resubscribes.fetch_add(1, Ordering::Relaxed);
            target
        };
        self.look_for_holders(target, now, out);
    }

    /// After a stored mutable `put` of `target`: pushes the stored version to the
    /// subscribers, if it is newer than the last one pushed.
    pub(super) fn notify_subscribers(&self, target: &Id, now: Time, out: &mut Output) {
        if self.subscriptions.get().is_none_or(|s| s.held() == 0) {
            return;
        }
        let Some(item) = self.store.get_mutable(target, now) else {
            return;
        };
        let to = self
            .subs()
            .holders
            .lock()
            .holders
            .to_notify(target, item.seq, now);
        let own = self.id;
        for s in to {
            let sent = self.send_encoded(s.addr, None, None, true, now, out, |tid, buf| {
                NotifyQuery {
                    tid,
                    version: Some(&CLIENT_VERSION),
                    id: own,
                    target: *target,
                    k: &item.k,
                    salt: &item.salt,
                    seq: item.seq,
                    sig: &item.sig,
                    v: &item.v,
                }
                .encode(buf)
            });
            self.notification_sent(sent, *target, s.addr);
        }
    }

    /// After an accepted `announce_peer` of `peer` for `info_hash`: pushes it to the
    /// subscribers of that info-hash's peers whose lease runs (every announce, a
    /// repeated one too: subscribers deliver each peer once).
    pub(super) fn notify_peer_subscribers(
        &self,
        info_hash: &Id,
        peer: SocketAddr,
        now: Time,
        out: &mut Output,
    ) {
        if self.subscriptions.get().is_none_or(|s| s.held() == 0) {
            return;
        }
        let key = peers_key(info_hash);
        let to = self.subs().holders.lock().holders.live(&key, now);
        let own = self.id;
        let peers = [peer];
        for s in to {
            let sent = self.send_encoded(s.addr, None, None, true, now, out, |tid, buf| {
                PeersQuery {
                    tid,
                    version: Some(&CLIENT_VERSION),
                    id: own,
                    info_hash: *info_hash,
                    peers: CompactPeers::from_addrs(&peers),
                }
                .encode(buf)
            });
            self.notification_sent(sent, key, s.addr);
        }
    }

    /// Tracks a notification of `key` sent to `addr` (its transaction `tid`, `None`
    /// when it could not be sent), so its answer or silence is taken as the
    /// subscriber's.
    fn notification_sent(&self, tid: Option<u32>, key: Id, addr: SocketAddr) {
        let Some(tid) = tid else { return };
        self.subs()
            .holders
            .lock()
            .notifying
            .insert(tid, (key, addr));
        self.subs()
            .counters
            .notifications_sent
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Periodic work: ended leases swept (as storing node), leases renewed and
    /// missing storing nodes looked for (as subscriber). Returns when next due.
    pub(super) fn tick_subscriptions(&self, now: Time, out: &mut Output) -> Time {
        let Some(subs) = self.subscriptions.get() else {
            return Time::NEVER;
        };
        let mut next = {
            let mut h = subs.holders.lock();
            if now >= h.next_sweep && !h.holders.is_empty() {
                h.holders.expire(now);
                h.next_sweep = now + SWEEP_EVERY;
            }
            if h.holders.is_empty() {
                Time::NEVER
            } else {
                h.next_sweep
            }
        };
        let lease = secs(self.config.subscribe.lease);
        let want = self.config.subscribe.redundancy.max(1);
        let mut lookups = Vec::new();
        {
            let mut active = subs.active.lock();
            let Active { subs, tids } = &mut *active;
            for (target, sub) in subs.iter_mut() {
                let topic = (sub.lookup, sub.peers.is_some());
                for held in sub.nodes.iter_mut() {
                    if held.renew_at <= now {
                        if let Some(tid) =
                            self.send_subscribe(held.node, topic, lease, true, now, out)
                        {
                            tids.insert(tid, (*target, held.node.id));
                            held.renew_at = Time::NEVER;
                        }
                    } else {
                        next = next.min(held.renew_at);
                    }
                }
                if sub.nodes.len() < want && !sub.looking {
                    if now >= sub.next_lookup {
                        lookups.push(*target);
                    } else {
                        next = next.min(sub.next_lookup);
                    }
                }
            }
        }
        for target in lookups {
            self.look_for_holders(target, now, out);
        }
        next
    }
}

/// Delivers the peers of `info_hash` not delivered before, if any, as one
/// [`Event::Peers`].
fn deliver_peers(seen: &mut SeenPeers, info_hash: Id, peers: CompactPeers<'_>, out: &mut Output) {
    let new: Vec<SocketAddr> = peers.iter().filter(|p| seen.insert(*p)).collect();
    if !new.is_empty() {
        out.events.push(Event::Peers {
            info_hash,
            peers: new,
        });
    }
}

/// Delivers `item` to `sub` if it is newer than what it holds.
fn deliver(sub: &mut Sub, item: MutableItem, out: &mut Output) -> Result<(), NotifyRefusal> {
    if sub.latest.as_ref().is_some_and(|l| l.seq >= item.seq) {
        return Err(NotifyRefusal::Stale);
    }
    sub.latest = Some(item.clone());
    out.events.push(Event::MutableUpdate(item));
    Ok(())
}

/// The version a subscribe answer carries, verified and delivered when newer.
fn take_answered_item(
    sub: &mut Sub,
    target: &Id,
    r: &Response<'_>,
    counters: &Counters,
    signatures: &SignatureCache,
    out: &mut Output,
) {
    let (Some(k), Some(seq), Some(sig), Some(v)) = (r.k, r.seq, r.sig, r.v) else {
        return;
    };
    let salt = sub.salt.clone();
    let q = NotifyQuery {
        tid: b"",
        version: None,
        id: r.id,
        target: *target,
        k,
        salt: &salt,
        seq,
        sig,
        v,
    };
    if sub.k != *k {
        return;
    }
    if let Ok(item) = verify_notify(&q, signatures) {
        if deliver(sub, item, out).is_ok() {
            counters
                .notifications_received
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keypair::Keypair;
    use crate::node::test_support::{addr, node_with_router, run_silent};
    use crate::wire::subscribe::decode_notify;

    fn item(key: &Keypair, seq: i64) -> MutableItem {
        let v = b"5:hello";
        MutableItem {
            k: key.public_key(),
            salt: Box::default(),
            seq,
            sig: key.sign(b"", seq, v),
            v: v.as_slice().into(),
        }
    }

    #[test]
    fn a_subscriber_gets_each_version_once_and_an_unanswered_one_is_dropped() {
        let node = node_with_router(addr(9));
        let key = Keypair::from_seed(&[5; 32]);
        let target = key.target(b"");
        let mut out = Output::new();
        let mut sub = Vec::new();
        SubscribeQuery {
            tid: b"s1",
            version: Some(&CLIENT_VERSION),
            id: Id::sha1(b"subscriber"),
            target,
            lease: 3_600,
            peers: false,
        }
        .encode(&mut sub);
        node.handle_datagram(addr(7), &sub, Time::ZERO, &mut out);
        // The lease granted is the node's bound, 600 s (besides the answer, the node
        // may ping its new contact).
        let granted = out.datagrams().find_map(|(_, d)| answer_lease(d));
        assert_eq!(granted, Some(600));
        assert_eq!(node.stats().subscriptions_held, 1);
        out.clear();
        for seq in [1, 1, 2] {
            node.store()
                .put_mutable(target, item(&key, seq), None, Time::ZERO)
                .expect("stored");
            node.notify_subscribers(&target, Time::ZERO, &mut out);
        }
        let pushed: Vec<i64> = out
            .datagrams()
            .filter_map(|(to, d)| {
                let q = decode_notify(d).ok()?;
                assert_eq!(to, addr(7));
                Some(q.seq)
            })
            .collect();
        assert_eq!(pushed, [1, 2]);
        assert_eq!(node.stats().notifications_sent, 2);
        // Nobody answers them: after the retry, the subscription ends.
        out.clear();
        run_silent(&node, Time::from_millis(20_000), &mut out);
        assert_eq!(node.stats().subscriptions_held, 0);
    }

    #[test]
    fn peers_are_pushed_to_their_subscribers_and_delivered_once() {
        // The storing node: a subscription to the peers of `info_hash`.
        let holder = node_with_router(addr(9));
        let info_hash = Id::sha1(b"torrent");
        let mut out = Output::new();
        let mut query = Vec::new();
        SubscribeQuery {
            tid: b"s2",
            version: Some(&CLIENT_VERSION),
            id: Id::sha1(b"subscriber"),
            target: info_hash,
            lease: 60,
            peers: true,
        }
        .encode(&mut query);
        holder.handle_datagram(addr(7), &query, Time::ZERO, &mut out);
        assert_eq!(holder.stats().subscriptions_held, 1);
        out.clear();
        // A put of an item whose target were the info-hash pushes nothing to it.
        holder.notify_subscribers(&info_hash, Time::ZERO, &mut out);
        holder.notify_peer_subscribers(&info_hash, addr(3), Time::ZERO, &mut out);
        let pushed: Vec<(SocketAddr, Vec<SocketAddr>)> = out
            .datagrams()
            .filter_map(|(to, d)| Some((to, decode_peers(d).ok()?.peers.iter().collect())))
            .collect();
        assert_eq!(pushed, [(addr(7), vec![addr(3)])]);

        // The subscriber: each peer once, from pushes and answers alike.
        let subscriber = node_with_router(addr(8));
        let key = subscriber
            .add_peer_subscription(&info_hash)
            .expect("subscribed");
        assert_eq!(key, peers_key(&info_hash));
        let push = |n: u8, peers: &[SocketAddr], to: &Node| {
            let mut d = Vec::new();
            PeersQuery {
                tid: &[b'p', n],
                version: Some(&CLIENT_VERSION),
                id: Id::sha1(b"holder"),
                info_hash,
                peers: CompactPeers::from_addrs(peers),
            }
            .encode(&mut d);
            let mut out = Output::new();
            to.handle_datagram(addr(9), &d, Time::ZERO, &mut out);
            out.events
                .iter()
                .filter_map(|e| match e {
                    Event::Peers {
                        info_hash: h,
                        peers,
                    } if *h == info_hash => Some(peers.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(push(1, &[addr(3)], &subscriber), [vec![addr(3)]]);
        assert_eq!(push(2, &[addr(3), addr(4)], &subscriber), [vec![addr(4)]]);
        assert!(push(3, &[addr(4)], &subscriber).is_empty());
        assert_eq!(subscriber.stats().notifications_received, 3);
        // Another node, not subscribed: unsolicited.
        let other = node_with_router(addr(6));
        assert!(push(4, &[addr(3)], &other).is_empty());
        assert_eq!(other.stats().notify_unsolicited, 1);
        subscriber.remove_subscription(&key, Time::ZERO, &mut Output::new());
        assert_eq!(subscriber.stats().subscriptions_active, 0);
    }

    #[test]
    fn listeners_share_one_subscription_and_bad_requests_are_refused() {
        let node = node_with_router(addr(9));
        let k = [1; 32];
        let (target, latest) = node.add_subscription(&k, b"").expect("subscribed");
        assert_eq!((target, latest), (mutable_target(&k, b""), None));
        node.add_subscription(&k, b"").expect("a second listener");
        assert_eq!(node.stats().subscriptions_active, 1);
        let mut out = Output::new();
        node.remove_subscription(&target, Time::ZERO, &mut out);
        assert_eq!(node.stats().subscriptions_active, 1);
        node.remove_subscription(&target, Time::ZERO, &mut out);
        assert_eq!(node.stats().subscriptions_active, 0);
        let long_salt = [0u8; MAX_SALT_LEN + 1];
        assert!(matches!(
            node.add_subscription(&k, &long_salt),
            Err(OpError::BadInput(_))
        ));
        let config = crate::node::NodeConfig {
            read_only: true,
            ..crate::node::NodeConfig::default()
        };
        let read_only = Node::new(Id::ZERO, config, Time::ZERO);
        assert!(matches!(
            read_only.add_subscription(&k, b""),
            Err(OpError::BadInput(_))
        ));
    }
}
