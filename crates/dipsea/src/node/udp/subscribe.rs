//! Subscriptions on the async and blocking handles: [`NodeHandle::subscribe`] gives a
//! [`Subscription`], a stream of the verified new versions of one mutable item that
//! ends when dropped; [`BlockingNode::subscribe`] its blocking twin;
//! [`NodeHandle::subscribe_peers`] a [`PeerSubscription`], a stream of the peers
//! newly announced for an info-hash (each once), and
//! [`BlockingNode::subscribe_peers`] its twin.
//!
//! The node reports each new version once ([`Event::MutableUpdate`](crate::node::Event));
//! [`Listeners`] hands it to every local listener of that item, each through its own
//! bounded queue of [`UPDATE_QUEUE`] versions (a listener that falls further behind
//! misses the oldest: only the newest version matters).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::mpsc;

use super::{BlockingNode, NodeHandle, Shared};
use crate::error::Error;
use crate::id::Id;
use crate::keypair::PUBLIC_KEY_LEN;
use crate::node::ops::{typed, OpError};
use crate::node::output::Output;
use crate::node::{MutableValue, Outcome, Request};
use crate::store::MutableItem;
use crate::subscribe::peers_key;

/// Versions a listener may lag behind before it misses the oldest.
pub const UPDATE_QUEUE: usize = 64;

/// Where one listener's versions (or peers) go.
#[derive(Debug)]
enum Sink<T> {
    Async(mpsc::Sender<T>),
    Blocking(std::sync::mpsc::SyncSender<T>),
}

impl<T> Sink<T> {
    /// Queues `value`; a full queue drops it for that listener, a closed one is
    /// removed when its subscription drops.
    fn offer(&self, value: T) {
        let _ = match self {
            Sink::Async(tx) => tx.try_send(value).is_ok(),
            Sink::Blocking(tx) => tx.try_send(value).is_ok(),
        };
    }
}

/// The listeners of one kind of subscription, by key.
type ByKey<T> = DashMap<Id, Vec<(u64, Sink<T>)>>;

/// The local listeners of each subscribed item and info-hash.
#[derive(Debug, Default)]
pub(super) struct Listeners {
    by_target: ByKey<MutableValue>,
    /// By [`peers_key`] of the info-hash.
    by_info_hash: ByKey<SocketAddr>,
    next: AtomicU64,
}

/// What a subscription's items are, and where its listeners are kept.
trait Kind: Clone + Send + 'static {
    fn listeners(listeners: &Listeners) -> &ByKey<Self>;
}

impl Kind for MutableValue {
    fn listeners(listeners: &Listeners) -> &ByKey<Self> {
        &listeners.by_target
    }
}

impl Kind for SocketAddr {
    fn listeners(listeners: &Listeners) -> &ByKey<Self> {
        &listeners.by_info_hash
    }
}

impl Listeners {
    /// Hands a new version to every listener of its target.
    pub(super) fn deliver(&self, item: &MutableItem) {
        if let Some(list) = self.by_target.get(&item.target()) {
            let value = MutableValue::from_item(item);
            for (_, sink) in list.iter() {
                sink.offer(value.clone());
            }
        }
    }

    /// Hands new peers of `info_hash` to every listener of its peers.
    pub(super) fn deliver_peers(&self, info_hash: &Id, peers: &[SocketAddr]) {
        if let Some(list) = self.by_info_hash.get(&peers_key(info_hash)) {
            for (_, sink) in list.iter() {
                for peer in peers {
                    sink.offer(*peer);
                }
            }
        }
    }

    fn add<T: Kind>(&self, key: Id, sink: Sink<T>) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        T::listeners(self).entry(key).or_default().push((id, sink));
        id
    }

    fn remove<T: Kind>(&self, key: &Id, id: u64) {
        let map = T::listeners(self);
        let empty = match map.get_mut(key) {
            Some(mut list) => {
                list.retain(|(i, _)| *i != id);
                list.is_empty()
            }
            None => false,
        };
        if empty {
            map.remove_if(key, |_, list| list.is_empty());
        }
    }
}

/// One listener's registration: unregisters and unsubscribes when dropped.
struct Registration<T: Kind> {
    shared: Arc<Shared>,
    /// The item's target, or [`peers_key`] of the info-hash.
    target: Id,
    /// What is looked up: the target, or the info-hash.
    lookup: Id,
    listener: u64,
    kind: std::marker::PhantomData<fn() -> T>,
}

impl<T: Kind> Drop for Registration<T> {
    fn drop(&mut self) {
        self.shared
            .listeners
            .remove::<T>(&self.target, self.listener);
        let mut out = Output::new();
        self.shared
            .node
            .remove_subscription(&self.target, self.shared.now(), &mut out);
        self.shared.flush(&mut out);
    }
}

/// Registers a listener of the item and starts the lookup that subscribes to its
/// storing nodes; the target, the registration, and the newest version known.
fn register(
    shared: &Arc<Shared>,
    public_key: &[u8; PUBLIC_KEY_LEN],
    salt: &[u8],
    sink: Sink<MutableValue>,
) -> Result<(Registration<MutableValue>, Option<MutableItem>), Error> {
    let (target, latest) = shared.node.add_subscription(public_key, salt)?;
    let listener = shared.listeners.add(target, sink);
    let registration = Registration {
        shared: shared.clone(),
        target,
        lookup: target,
        listener,
        kind: std::marker::PhantomData,
    };
    Ok((registration, latest))
}

/// Registers a listener of the peers of `info_hash`.
fn register_peers(
    shared: &Arc<Shared>,
    info_hash: Id,
    sink: Sink<SocketAddr>,
) -> Result<Registration<SocketAddr>, Error> {
    let key = shared.node.add_peer_subscription(&info_hash)?;
    let listener = shared.listeners.add(key, sink);
    Ok(Registration {
        shared: shared.clone(),
        target: key,
        lookup: info_hash,
        listener,
        kind: std::marker::PhantomData,
    })
}

/// A subscription to one mutable item: each verified new version, once, highest
/// sequence number last. Dropping it ends the subscription (the storing nodes are
/// told, best effort; unrenewed, their leases end anyway).
///
/// `Subscription<SocketAddr>` ([`PeerSubscription`]) is a subscription to the peers
/// of an info-hash ([`NodeHandle::subscribe_peers`]): each peer once.
#[allow(private_bounds)]
pub struct Subscription<T: Kind = MutableValue> {
    rx: mpsc::Receiver<T>,
    stop: tokio::sync::watch::Receiver<bool>,
    registration: Registration<T>,
}

/// A subscription to the peers of an info-hash: each newly announced peer once.
pub type PeerSubscription = Subscription<SocketAddr>;

#[allow(private_bounds)]
impl<T: Kind> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.registration.lookup)
            .finish()
    }
}

impl PeerSubscription {
    /// The info-hash whose peers this subscription yields.
    pub fn info_hash(&self) -> Id {
        self.registration.lookup
    }
}

#[allow(private_bounds)]
impl<T: Kind> Subscription<T> {
    /// The next new version (or peer); `None` once the node has shut down. Cancel
    /// safe.
    pub async fn next(&mut self) -> Option<T> {
        if *self.stop.borrow() {
            return None;
        }
        tokio::select! {
            value = self.rx.recv() => value,
            _ = self.stop.wait_for(|stopped| *stopped) => None,
        }
    }

    /// A new version (or peer) if one is waiting now, without waiting.
    pub fn try_next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// The item's target, `SHA-1(public key ‖ salt)` (for a [`PeerSubscription`],
    /// the key the info-hash's subscription is held under).
    pub fn target(&self) -> Id {
        self.registration.target
    }
}

/// [`Subscription`] for callers without a runtime: wait with a timeout. Dropping it
/// ends the subscription.
#[allow(private_bounds)]
pub struct BlockingSubscription<T: Kind = MutableValue> {
    rx: std::sync::mpsc::Receiver<T>,
    registration: Registration<T>,
}

/// [`PeerSubscription`] for callers without a runtime.
pub type BlockingPeerSubscription = BlockingSubscription<SocketAddr>;

#[allow(private_bounds)]
impl<T: Kind> std::fmt::Debug for BlockingSubscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingSubscription")
            .field("topic", &self.registration.lookup)
            .finish()
    }
}

impl BlockingPeerSubscription {
    /// The info-hash whose peers this subscription yields.
    pub fn info_hash(&self) -> Id {
        self.registration.lookup
    }
}

/// How often a blocking wait looks whether the node has shut down.
const SHUTDOWN_POLL: Duration = Duration::from_millis(100);

#[allow(private_bounds)]
impl<T: Kind> BlockingSubscription<T> {
    /// The next new version (or peer), waiting at most `timeout`; `None` on timeout
    /// or once the node has shut down.
    pub fn next_timeout(&self, timeout: Duration) -> Option<T> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.registration.shared.closed.load(Ordering::Relaxed) {
                return self.rx.try_recv().ok();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left.min(SHUTDOWN_POLL)) {
                Ok(value) => return Some(value),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {}
                Err(_) => return None,
            }
        }
    }

    /// A new version (or peer) if one is waiting now, without waiting.
    pub fn try_next(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// The item's target, `SHA-1(public key ‖ salt)` (for a peers subscription,
    /// the key the info-hash's subscription is held under).
    pub fn target(&self) -> Id {
        self.registration.target
    }
}

impl NodeHandle {
    /// Subscribes to the BEP 44 mutable item of `public_key` and `salt` (`None`: no
    /// salt): the closest storing nodes push each newer version, which is verified
    /// and yielded once by [`Subscription::next`]; the current version comes first
    /// when a storing node has one. Leases are renewed, and a storing node that stops
    /// answering is replaced, in the background.
    ///
    /// Errors: [`OpError::BadInput`] for a salt over 64 bytes, or on a read-only node
    /// (it answers no queries, notifications included); [`OpError::Busy`] past
    /// [`SubscribeConfig::max_active`](crate::subscribe::SubscribeConfig::max_active)
    /// items; [`OpError::NoRoute`] or [`OpError::Timeout`] when the lookup fails, or
    /// finds no node that speaks the extension.
    pub async fn subscribe(
        &self,
        public_key: [u8; PUBLIC_KEY_LEN],
        salt: Option<&[u8]>,
    ) -> Result<Subscription, Error> {
        let (tx, rx) = mpsc::channel(UPDATE_QUEUE);
        let (registration, latest) = register(
            &self.shared,
            &public_key,
            salt.unwrap_or_default(),
            Sink::Async(tx.clone()),
        )?;
        if let Some(item) = latest {
            let _ = tx.try_send(MutableValue::from_item(&item));
        }
        self.find_holders(registration.target, registration.target)
            .await?;
        Ok(Subscription {
            rx,
            stop: self.shared.stop.subscribe(),
            registration,
        })
    }

    /// Subscribes to the peers of `info_hash`: the closest nodes of the info-hash
    /// (where `announce_peer` stores) push each peer announced to them while the
    /// subscription lasts, and the peers they store already come first; each peer
    /// is yielded once by [`Subscription::next`]. Leases are renewed and storing
    /// nodes replaced in the background, as for [`NodeHandle::subscribe`].
    ///
    /// Errors: [`OpError::BadInput`] on a read-only node; [`OpError::Busy`] past
    /// [`SubscribeConfig::max_active`](crate::subscribe::SubscribeConfig::max_active)
    /// subscriptions; [`OpError::NoRoute`] or [`OpError::Timeout`] when the lookup
    /// fails, or finds no node that speaks the extension.
    pub async fn subscribe_peers(&self, info_hash: Id) -> Result<PeerSubscription, Error> {
        let (tx, rx) = mpsc::channel(UPDATE_QUEUE);
        let registration = register_peers(&self.shared, info_hash, Sink::Async(tx))?;
        self.find_holders(info_hash, registration.target).await?;
        Ok(Subscription {
            rx,
            stop: self.shared.stop.subscribe(),
            registration,
        })
    }

    /// Runs the subscribe lookup of `lookup` for the subscription `key`; an error
    /// when it asked nobody.
    async fn find_holders(&self, lookup: Id, key: Id) -> Result<(), Error> {
        let asked = typed(
            self.run(Request::Subscribe(lookup)).await,
            Outcome::into_nodes,
        )?;
        if asked.is_empty() && !self.shared.node.subscribed_anywhere(&key) {
            return Err(Error::Op(OpError::NoRoute));
        }
        Ok(())
    }
}

impl BlockingNode {
    /// See [`NodeHandle::subscribe`].
    pub fn subscribe(
        &self,
        public_key: [u8; PUBLIC_KEY_LEN],
        salt: Option<&[u8]>,
    ) -> Result<BlockingSubscription, Error> {
        let (tx, rx) = std::sync::mpsc::sync_channel(UPDATE_QUEUE);
        let shared = &self.handle().shared;
        let (registration, latest) = register(
            shared,
            &public_key,
            salt.unwrap_or_default(),
            Sink::Blocking(tx.clone()),
        )?;
        if let Some(item) = latest {
            let _ = tx.try_send(MutableValue::from_item(&item));
        }
        let target = registration.target;
        self.runtime()
            .block_on(self.handle().find_holders(target, target))?;
        Ok(BlockingSubscription { rx, registration })
    }

    /// See [`NodeHandle::subscribe_peers`].
    pub fn subscribe_peers(&self, info_hash: Id) -> Result<BlockingPeerSubscription, Error> {
        let (tx, rx) = std::sync::mpsc::sync_channel(UPDATE_QUEUE);
        let registration = register_peers(&self.handle().shared, info_hash, Sink::Blocking(tx))?;
        let key = registration.target;
        self.runtime()
            .block_on(self.handle().find_holders(info_hash, key))?;
        Ok(BlockingSubscription { rx, registration })
    }
}
