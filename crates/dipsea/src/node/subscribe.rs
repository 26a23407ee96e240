//! Subscriptions at the node: `dipsea_sub` and `dipsea_notify` answered, the
//! subscriptions this node holds for others (as a storing node) and those it holds
//! itself (as subscriber), renewed and replaced (the logic is in [`crate::subscribe`]).
//!
//! Entry points: [`Node::add_subscription`] registers a local listener (the driver
//! then runs [`Request::Subscribe`](super::Request::Subscribe), a lookup whose end
//! calls `subscribe_found`); [`Node::remove_subscription`] drops one. `dispatch`
//! hands the two queries to `on_subscription_query`, answers to our `dipsea_sub`
//! to `on_subscribe_answer`, and every stored mutable `put` to `notify_subscribers`;
//! [`Node::tick`] calls `tick_subscriptions` (renewals, lease expiry). A verified new
//! version is reported as [`Event::MutableUpdate`].
//!
//! Locks: the holders table and the active table are one mutex each, never held
//! together; the active one is held while a query is sent (an in-flight shard),
//! never the reverse.

use std::collections::{BTreeMap, HashMap};
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
use crate::store::{MutableItem, MAX_SALT_LEN};
use crate::subscribe::{
    verify_notify, Holders, NotifyRefusal, SubscribeRefusal, SUBSCRIBE_VERSION,
};
use crate::time::Time;
use crate::wire::error_code;
use crate::wire::subscribe::{
    answer_lease, decode_notify, decode_subscribe, encode_subscribe_answer, NotifyQuery,
    SubscribeQuery, NOTIFY_METHOD, SUBSCRIBE_METHOD,
};
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

/// One item this node subscribes to.
#[derive(Debug)]
struct Sub {
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
    pub(super) fn new() -> Subscriptions {
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
        if self.config.read_only {
            return Err(OpError::BadInput(
                "a read-only node (BEP 43) answers no queries, so it cannot be notified".into(),
            ));
        }
        let target = mutable_target(public_key, salt);
        let mut active = self.subscriptions.active.lock();
        let limit = self.config.subscribe.max_active;
        if let Some(sub) = active.subs.get_mut(&target) {
            sub.refs += 1;
            return Ok((target, sub.latest.clone()));
        }
        if active.subs.len() >= limit {
            return Err(OpError::Busy {
                what: "subscriptions",
                limit,
            });
        }
        active.subs.insert(
            target,
            Sub {
                k: *public_key,
                salt: salt.into(),
                refs: 1,
                latest: None,
                nodes: Vec::new(),
                failed: Vec::new(),
                looking: false,
                next_lookup: Time::ZERO,
            },
        );
        Ok((target, None))
    }

    /// Drops one local listener of `target`; with the last one, the storing nodes
    /// are told to stop (a lease of 0, best effort) and the subscription ends.
    pub fn remove_subscription(&self, target: &Id, now: Time, out: &mut Output) {
        let mut active = self.subscriptions.active.lock();
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
        for held in sub.nodes {
            self.send_subscribe(held.node, *target, 0, false, now, out);
        }
    }

    /// Whether the subscription to `target` has asked at least one storing node.
    pub fn subscribed_anywhere(&self, target: &Id) -> bool {
        self.subscriptions
            .active
            .lock()
            .subs
            .get(target)
            .is_some_and(|s| !s.nodes.is_empty())
    }

    /// Whether `id` is known to speak the subscription extension.
    pub fn speaks_subscribe(&self, id: &Id) -> bool {
        self.speaker_version(id)
            .is_some_and(|v| v >= SUBSCRIBE_VERSION)
    }

    /// Sends a `dipsea_sub` of `lease` seconds; its transaction id (tracked when
    /// `resend`: an answer is awaited).
    fn send_subscribe(
        &self,
        to: NodeInfo,
        target: Id,
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
            }
            .encode(buf)
        })
    }

    /// The end of a [`Request::Subscribe`] lookup: subscribes to the closest nodes
    /// that speak the extension, up to the redundancy; returns those asked.
    pub(super) fn subscribe_found(
        &self,
        target: Id,
        closest: &[NodeInfo],
        now: Time,
        out: &mut Output,
    ) -> Vec<NodeInfo> {
        let lease = secs(self.config.subscribe.lease);
        let want = self.config.subscribe.redundancy.max(1);
        let mut active = self.subscriptions.active.lock();
        let Active { subs, tids } = &mut *active;
        let Some(sub) = subs.get_mut(&target) else {
            return Vec::new();
        };
        sub.looking = false;
        sub.next_lookup = now + self.config.subscribe.retry;
        let mut asked = Vec::new();
        for node in closest {
            if sub.nodes.len() >= want {
                break;
            }
            let known = sub.nodes.iter().any(|h| h.node.id == node.id);
            if known || sub.failed.contains(&node.id) || !self.speaks_subscribe(&node.id) {
                continue;
            }
            if let Some(tid) = self.send_subscribe(*node, target, lease, true, now, out) {
                tids.insert(tid, (target, node.id));
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

    /// A [`Request::Subscribe`] lookup that could not run or found nobody.
    pub(super) fn subscribe_lookup_failed(&self, target: &Id, now: Time) {
        if let Some(sub) = self.subscriptions.active.lock().subs.get_mut(target) {
            sub.looking = false;
            sub.next_lookup = now + self.config.subscribe.retry;
        }
    }

    /// Starts a lookup for storing nodes of `target` unless one runs or ran lately.
    fn look_for_holders(&self, target: Id, now: Time, out: &mut Output) {
        {
            let mut active = self.subscriptions.active.lock();
            let Some(sub) = active.subs.get_mut(&target) else {
                return;
            };
            if sub.looking || now < sub.next_lookup {
                return;
            }
            sub.looking = true;
        }
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
        let result = {
            let mut h = self.subscriptions.holders.lock();
            if granted == 0 {
                h.holders.unsubscribe(&q.target, from);
                Ok(())
            } else {
                let expires = now + Duration::from_secs(u64::from(granted));
                h.holders.subscribe(q.target, from, q.id, expires, config)
            }
        };
        if let Err(refusal) = result {
            let counter = match refusal {
                SubscribeRefusal::NodeFull => &self.subscriptions.counters.refused_node,
                SubscribeRefusal::IpFull => &self.subscriptions.counters.refused_ip,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            let reason = refusal.to_string();
            self.reply_error(from, q.tid, refusal.code(), reason.as_bytes(), out);
            return;
        }
        let item = (granted > 0)
            .then(|| self.store.get_mutable(&q.target, now))
            .flatten();
        let own = self.id;
        self.send_datagram(out, from, |buf| {
            encode_subscribe_answer(q.tid, &CLIENT_VERSION, &own, granted, item.as_deref(), buf)
        });
        self.count_sent(1, out.last_datagram().len());
    }

    /// A pushed version (as subscriber): checked, acknowledged, delivered when new.
    fn on_notify(&self, from: SocketAddr, data: &[u8], out: &mut Output) {
        let q = match decode_notify(data) {
            Ok(q) => q,
            Err(error) => {
                self.subscriptions
                    .counters
                    .notify_invalid
                    .fetch_add(1, Ordering::Relaxed);
                return self.reply_decode_error(from, data, &error, out);
            }
        };
        let verdict = self.take_notify(&q, out);
        let c = &self.subscriptions.counters;
        match verdict {
            Ok(()) => c.notifications_received.fetch_add(1, Ordering::Relaxed),
            Err(NotifyRefusal::Stale) => c.notify_stale.fetch_add(1, Ordering::Relaxed),
            Err(NotifyRefusal::Unsolicited) => c.notify_unsolicited.fetch_add(1, Ordering::Relaxed),
            Err(_) => c.notify_invalid.fetch_add(1, Ordering::Relaxed),
        };
        match verdict {
            Ok(()) | Err(NotifyRefusal::Stale) => {
                let own = self.id;
                self.send_datagram(out, from, |buf| {
                    crate::wire::Message {
                        tid: q.tid,
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
            Err(refusal) => {
                // Counted above, by reason.
                let reason = refusal.to_string();
                self.reply_error(from, q.tid, refusal.code(), reason.as_bytes(), out);
            }
        }
    }

    /// Checks a pushed item against our subscriptions; delivers it when newer.
    fn take_notify(&self, q: &NotifyQuery<'_>, out: &mut Output) -> Result<(), NotifyRefusal> {
        if !self
            .subscriptions
            .active
            .lock()
            .subs
            .contains_key(&q.target)
        {
            return Err(NotifyRefusal::Unsolicited);
        }
        // Verified outside the lock: a signature check is the costly part.
        let item = verify_notify(q)?;
        let mut active = self.subscriptions.active.lock();
        let sub = active
            .subs
            .get_mut(&q.target)
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
        {
            let mut h = self.subscriptions.holders.lock();
            if let Some((target, subscriber)) = h.notifying.remove(&tid) {
                if answer.is_none() {
                    h.holders.unsubscribe(&target, subscriber);
                }
                return;
            }
        }
        let target = {
            let mut active = self.subscriptions.active.lock();
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
                    take_answered_item(sub, &target, r, &self.subscriptions.counters, out);
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
            self.subscriptions
                .counters
                .resubscribes
                .fetch_add(1, Ordering::Relaxed);
            target
        };
        self.look_for_holders(target, now, out);
    }

    /// After a stored mutable `put` of `target`: pushes the stored version to the
    /// subscribers, if it is newer than the last one pushed.
    pub(super) fn notify_subscribers(&self, target: &Id, now: Time, out: &mut Output) {
        if self.subscriptions.held() == 0 {
            return;
        }
        let Some(item) = self.store.get_mutable(target, now) else {
            return;
        };
        let to = self
            .subscriptions
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
            if let Some(tid) = sent {
                self.subscriptions
                    .holders
                    .lock()
                    .notifying
                    .insert(tid, (*target, s.addr));
                self.subscriptions
                    .counters
                    .notifications_sent
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Periodic work: ended leases swept (as storing node), leases renewed and
    /// missing storing nodes looked for (as subscriber). Returns when next due.
    pub(super) fn tick_subscriptions(&self, now: Time, out: &mut Output) -> Time {
        let mut next = {
            let mut h = self.subscriptions.holders.lock();
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
            let mut active = self.subscriptions.active.lock();
            let Active { subs, tids } = &mut *active;
            for (target, sub) in subs.iter_mut() {
                for held in sub.nodes.iter_mut() {
                    if held.renew_at <= now {
                        if let Some(tid) =
                            self.send_subscribe(held.node, *target, lease, true, now, out)
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
    if let Ok(item) = verify_notify(&q) {
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
