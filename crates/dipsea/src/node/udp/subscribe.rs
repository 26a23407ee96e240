//! Subscriptions on the async and blocking handles: [`NodeHandle::subscribe`] gives a
//! [`Subscription`], a stream of the verified new versions of one mutable item that
//! ends when dropped; [`BlockingNode::subscribe`] its blocking twin.
//!
//! The node reports each new version once ([`Event::MutableUpdate`](crate::node::Event));
//! [`Listeners`] hands it to every local listener of that item, each through its own
//! bounded queue of [`UPDATE_QUEUE`] versions (a listener that falls further behind
//! misses the oldest: only the newest version matters).

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

/// Versions a listener may lag behind before it misses the oldest.
pub const UPDATE_QUEUE: usize = 64;

/// Where one listener's versions go.
#[derive(Debug)]
enum Sink {
    Async(mpsc::Sender<MutableValue>),
    Blocking(std::sync::mpsc::SyncSender<MutableValue>),
}

/// The local listeners of each subscribed item.
#[derive(Debug, Default)]
pub(super) struct Listeners {
    by_target: DashMap<Id, Vec<(u64, Sink)>>,
    next: AtomicU64,
}

impl Listeners {
    /// Hands a new version to every listener of its target.
    pub(super) fn deliver(&self, item: &MutableItem) {
        if let Some(list) = self.by_target.get(&item.target()) {
            let value = MutableValue::from_item(item);
            for (_, sink) in list.iter() {
                // A full queue drops this version for that listener; a closed one
                // is removed when its subscription drops.
                let _ = match sink {
                    Sink::Async(tx) => tx.try_send(value.clone()).is_ok(),
                    Sink::Blocking(tx) => tx.try_send(value.clone()).is_ok(),
                };
            }
        }
    }

    fn add(&self, target: Id, sink: Sink) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.by_target.entry(target).or_default().push((id, sink));
        id
    }

    fn remove(&self, target: &Id, id: u64) {
        let empty = match self.by_target.get_mut(target) {
            Some(mut list) => {
                list.retain(|(i, _)| *i != id);
                list.is_empty()
            }
            None => false,
        };
        if empty {
            self.by_target.remove_if(target, |_, list| list.is_empty());
        }
    }
}

/// One listener's registration: unregisters and unsubscribes when dropped.
struct Registration {
    shared: Arc<Shared>,
    target: Id,
    listener: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.listeners.remove(&self.target, self.listener);
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
    sink: Sink,
) -> Result<(Registration, Option<MutableItem>), Error> {
    let (target, latest) = shared.node.add_subscription(public_key, salt)?;
    let listener = shared.listeners.add(target, sink);
    let registration = Registration {
        shared: shared.clone(),
        target,
        listener,
    };
    Ok((registration, latest))
}

/// A subscription to one mutable item: each verified new version, once, highest
/// sequence number last. Dropping it ends the subscription (the storing nodes are
/// told, best effort; unrenewed, their leases end anyway).
pub struct Subscription {
    rx: mpsc::Receiver<MutableValue>,
    stop: tokio::sync::watch::Receiver<bool>,
    registration: Registration,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("target", &self.registration.target)
            .finish()
    }
}

impl Subscription {
    /// The next new version; `None` once the node has shut down. Cancel safe.
    pub async fn next(&mut self) -> Option<MutableValue> {
        if *self.stop.borrow() {
            return None;
        }
        tokio::select! {
            value = self.rx.recv() => value,
            _ = self.stop.wait_for(|stopped| *stopped) => None,
        }
    }

    /// A new version if one is waiting now, without waiting.
    pub fn try_next(&mut self) -> Option<MutableValue> {
        self.rx.try_recv().ok()
    }

    /// The item's target, `SHA-1(public key ‖ salt)`.
    pub fn target(&self) -> Id {
        self.registration.target
    }
}

/// [`Subscription`] for callers without a runtime: wait with a timeout. Dropping it
/// ends the subscription.
pub struct BlockingSubscription {
    rx: std::sync::mpsc::Receiver<MutableValue>,
    registration: Registration,
}

impl std::fmt::Debug for BlockingSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingSubscription")
            .field("target", &self.registration.target)
            .finish()
    }
}

/// How often a blocking wait looks whether the node has shut down.
const SHUTDOWN_POLL: Duration = Duration::from_millis(100);

impl BlockingSubscription {
    /// The next new version, waiting at most `timeout`; `None` on timeout or once
    /// the node has shut down.
    pub fn next_timeout(&self, timeout: Duration) -> Option<MutableValue> {
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

    /// A new version if one is waiting now, without waiting.
    pub fn try_next(&self) -> Option<MutableValue> {
        self.rx.try_recv().ok()
    }

    /// The item's target, `SHA-1(public key ‖ salt)`.
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
    /// Errors: [`OpError::BadInput`] for a salt over 64 bytes; [`OpError::Busy`] past
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
        self.find_holders(registration.target).await?;
        Ok(Subscription {
            rx,
            stop: self.shared.stop.subscribe(),
            registration,
        })
    }

    /// Runs the subscribe lookup of `target`; an error when it asked nobody.
    async fn find_holders(&self, target: Id) -> Result<(), Error> {
        let asked = typed(
            self.run(Request::Subscribe(target)).await,
            Outcome::into_nodes,
        )?;
        if asked.is_empty() && !self.shared.node.subscribed_anywhere(&target) {
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
        self.runtime()
            .block_on(self.handle().find_holders(registration.target))?;
        Ok(BlockingSubscription { rx, registration })
    }
}
