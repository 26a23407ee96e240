//! Pushes from C: broadcast and key-range multicast (dipsea_node_broadcast, the
//! accept policy of a config), and the delivered broadcasts, the new versions of a
//! subscribed mutable item or the new peers of a subscribed info-hash handed to a
//! callback through a dipsea_listener (dipsea_node_on_broadcast,
//! dipsea_node_subscribe, dipsea_node_subscribe_peers, dipsea_listener_cancel,
//! dipsea_listener_free).
//!
//! A listener is one task on the node's runtime that waits for the next item of a
//! [`Source`] and calls the C callback with it. Its [`Gate`] makes cancelling
//! synchronous: a callback starts only while the listener is not cancelled, and
//! cancelling waits until a callback running on another thread has returned.

use std::cell::Cell;
use std::collections::HashSet;
use std::ffi::c_void;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use dipsea::keypair::PUBLIC_KEY_LEN;
use dipsea::push::{AcceptPolicy, Broadcast, KeyRange, SigningKey};
use dipsea::{Id, MutableValue, NodeBuilder, ID_LEN};
use tokio::sync::broadcast::error::RecvError;

use crate::config::{dipsea_config, update};
use crate::error::{dipsea_status, Failure};
use crate::ffi::{arg, boundary, bytes_arg, not_on_runtime, out, write_out};
use crate::id::dipsea_id;
use crate::keypair::{dipsea_keypair, DIPSEA_PUBLIC_KEY_LEN};
use crate::mutable::{dipsea_mutable_item, public_key_arg, DIPSEA_SIGNATURE_LEN};
use crate::node::{callback_arg, dipsea_node, node_arg, UserData};

/// Most bytes in a broadcast's payload.
pub const DIPSEA_BROADCAST_MAX_PAYLOAD: usize = 1024;

/// A broadcast delivered to a node, as its listener's callback sees it
/// (dipsea_node_on_broadcast). Borrowed for the call: copy what you keep.
#[repr(C)]
#[derive(Debug)]
pub struct dipsea_broadcast {
    /// The origin's ed25519 public key (DIPSEA_PUBLIC_KEY_LEN bytes): who signed it.
    pub origin: [u8; DIPSEA_PUBLIC_KEY_LEN],
    /// The origin's sequence number for this broadcast.
    pub seq: i64,
    /// The key range it was sent to: the ids whose first `prefix_bits` bits are
    /// those of `prefix` (its bits past `prefix_bits` are 0). 0 bits: every node.
    pub prefix: dipsea_id,
    /// How many leading bits of `prefix` name the range (0 to 160).
    pub prefix_bits: u32,
    /// The message, `payload_len` bytes (at most DIPSEA_BROADCAST_MAX_PAYLOAD);
    /// NULL when it is empty.
    pub payload: *const u8,
    /// Bytes at `payload`.
    pub payload_len: usize,
    /// The origin's ed25519 signature over seq, range and payload (checked before
    /// delivery).
    pub signature: [u8; DIPSEA_SIGNATURE_LEN],
}

impl dipsea_broadcast {
    /// The C view of `b`, borrowing its payload.
    fn of(b: &Broadcast) -> dipsea_broadcast {
        dipsea_broadcast {
            origin: b.origin,
            seq: b.seq,
            prefix: dipsea_id::from(b.range.prefix()),
            prefix_bits: u32::from(b.range.bits()),
            payload: if b.payload.is_empty() {
                std::ptr::null()
            } else {
                b.payload.as_ptr()
            },
            payload_len: b.payload.len(),
            signature: b.sig,
        }
    }
}

/// Called on a node's runtime thread for each broadcast the node delivers, while
/// its listener is not cancelled (dipsea_node_on_broadcast). `broadcast` and its
/// payload are valid during the call only.
pub type dipsea_broadcast_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, broadcast: *const dipsea_broadcast)>;

/// Opaque: a callback registered with a node (dipsea_node_on_broadcast). Stop it
/// with dipsea_listener_cancel and release it with dipsea_listener_free (which
/// cancels it too).
pub struct dipsea_listener {
    gate: Arc<Gate>,
    task: tokio::task::AbortHandle,
}

/// Whether a listener's callback may start, and where one is running.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    /// Signalled when a callback returns.
    idle: Condvar,
}

#[derive(Default)]
struct GateState {
    cancelled: bool,
    /// Whether the callback is running now.
    running: bool,
}

thread_local! {
    /// The gate whose callback this thread is running, by address (0: none). A
    /// thread-local `Cell` allocates nothing, unlike `std::thread::current()` on a
    /// thread that C started.
    static RUNNING_HERE: Cell<usize> = const { Cell::new(0) };
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        // The state is two plain flags, valid whatever panicked while it was held.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn address(&self) -> usize {
        self as *const Gate as usize
    }

    /// Runs `callback` unless the listener was cancelled; false if it was.
    fn run(&self, callback: impl FnOnce()) -> bool {
        {
            let mut state = self.lock();
            if state.cancelled {
                return false;
            }
            state.running = true;
        }
        let outer = RUNNING_HERE.with(|r| r.replace(self.address()));
        callback();
        RUNNING_HERE.with(|r| r.set(outer));
        self.lock().running = false;
        self.idle.notify_all();
        true
    }

    /// Cancels: no callback starts from now on, and one running on another thread
    /// has returned when this does (one running on this thread is the caller).
    fn cancel(&self) {
        let from_callback = RUNNING_HERE.with(|r| r.get() == self.address());
        let mut state = self.lock();
        state.cancelled = true;
        while state.running && !from_callback {
            state = self
                .idle
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Something a listener hands to its callback item by item until it ends.
pub(crate) trait Source: Send + 'static {
    /// What it yields.
    type Item: Send;
    /// The next item, or `None` once it has ended.
    fn next(&mut self) -> impl Future<Output = Option<Self::Item>> + Send;
}

/// The broadcasts a node delivers, from the moment the listener was made.
struct Broadcasts(tokio::sync::broadcast::Receiver<Broadcast>);

impl Source for Broadcasts {
    type Item = Broadcast;

    async fn next(&mut self) -> Option<Broadcast> {
        loop {
            match self.0.recv().await {
                Ok(b) => return Some(b),
                // Fell behind: the oldest were skipped; go on with the next.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// Starts a listener on `node`'s runtime: `deliver(user_data, &item)` for each item
/// of `source` until it ends or the listener is cancelled.
pub(crate) fn listen<S: Source>(
    node: &dipsea_node,
    mut source: S,
    user_data: *mut c_void,
    deliver: impl Fn(*mut c_void, &S::Item) + Send + 'static,
) -> Box<dipsea_listener> {
    let gate = Arc::new(Gate::default());
    let task_gate = gate.clone();
    let user_data = UserData(user_data);
    let task = node.inner.runtime().spawn(async move {
        let user_data = user_data;
        while let Some(item) = source.next().await {
            if !task_gate.run(|| deliver(user_data.0, &item)) {
                break;
            }
        }
    });
    Box::new(dipsea_listener {
        gate,
        task: task.abort_handle(),
    })
}

/// Calls `callback(user_data, broadcast)` for each broadcast `node` delivers from
/// now on, until dipsea_listener_cancel or dipsea_listener_free (or the node is
/// freed); writes the listener to `*out_listener`. Several listeners may watch one
/// node; each sees every broadcast. A listener more than 1024 broadcasts behind
/// (a slow callback) skips the oldest.
///
/// The callback runs on one of the node's runtime threads, one call at a time per
/// listener; it must not block for long, must not throw or longjmp, and may call
/// dipsea functions except blocking ones and dipsea_node_free (DIPSEA_WRONG_THREAD
/// there); it may cancel or free its own listener.
///
/// Ownership: `user_data` is yours; it is passed to `callback` untouched, on another
/// thread, until dipsea_listener_cancel returns. `*out_listener` is yours: release it
/// with dipsea_listener_free, before or after dipsea_node_free.
/// Threads: any thread, callbacks included; returns at once.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `node`, `callback` or
/// `out_listener` is NULL.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_on_broadcast(
    node: *const dipsea_node,
    callback: dipsea_broadcast_callback,
    user_data: *mut c_void,
    out_listener: *mut *mut dipsea_listener,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        let callback = callback_arg(callback)?;
        let out_listener = out(out_listener, "out_listener")?;
        let source = Broadcasts(node.inner.broadcasts());
        let listener = listen(node, source, user_data, move |ud, b: &Broadcast| {
            let view = dipsea_broadcast::of(b);
            // SAFETY: the caller's callback, with its own user data and a view
            // valid for the call.
            unsafe { callback(ud, &view) };
        });
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_listener, Box::into_raw(listener)) };
        Ok(())
    })
}

/// Stops a listener: when this returns, its callback is not running (unless this
/// is called from inside that callback, which then finishes) and will not be called
/// again, so `user_data` may be released. Calling it again does nothing. NULL: a
/// no-op.
///
/// Threads: any thread, the listener's own callback included; it waits for a call
/// of the callback running on another thread to return.
/// Statuses: DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_listener_cancel(listener: *const dipsea_listener) -> dipsea_status {
    boundary(|| {
        if !listener.is_null() {
            // SAFETY: non-NULL, a live listener by this function's contract.
            let listener = unsafe { arg(listener, "listener") }?;
            listener.gate.cancel();
            listener.task.abort();
        }
        Ok(())
    })
}

/// Cancels a listener (as dipsea_listener_cancel) and releases it. NULL: a no-op.
///
/// Ownership: `listener` is invalid afterwards. Threads: any thread, the listener's
/// own callback included, once no other thread uses `listener`.
/// Statuses: DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_listener_free(listener: *mut dipsea_listener) -> dipsea_status {
    boundary(|| {
        if !listener.is_null() {
            // SAFETY: non-NULL, made by a dipsea function, freed once (contract).
            let listener = unsafe { Box::from_raw(listener) };
            listener.gate.cancel();
            listener.task.abort();
        }
        Ok(())
    })
}

/// The key range of the first `prefix_bits` bits at `prefix`.
///
/// # Safety
/// `prefix` is NULL or points to `ceil(prefix_bits / 8)` readable bytes.
unsafe fn range_arg(prefix: *const u8, prefix_bits: usize) -> Result<KeyRange, Failure> {
    if prefix_bits > ID_LEN * 8 {
        return Err(Failure::invalid(format!(
            "a prefix has at most 160 bits, got {prefix_bits}"
        )));
    }
    // SAFETY: the caller's contract.
    let bytes = unsafe { bytes_arg(prefix, prefix_bits.div_ceil(8), "prefix") }?;
    let mut padded = [0u8; ID_LEN];
    padded[..bytes.len()].copy_from_slice(bytes);
    KeyRange::new(Id::from_bytes(padded), prefix_bits).map_err(|e| Failure::invalid(e.to_string()))
}

/// Broadcasts the `payload_len` bytes at `payload` (at most
/// DIPSEA_BROADCAST_MAX_PAYLOAD; NULL when 0), signed by `keypair`, to every node
/// that accepts broadcasts of its public key (dipsea_config_set_accept_broadcasts_open,
/// dipsea_config_allow_broadcast_origin); or, with `prefix_bits` > 0, to every such
/// node whose id starts with the first `prefix_bits` bits at `prefix` (a key-range
/// multicast; `prefix` holds `ceil(prefix_bits / 8)` bytes, NULL when
/// `prefix_bits` is 0). Writes how many nodes this node handed it to
/// (0: no node in the range is known to accept the extension) to `*out_sent`.
/// This node does not deliver its own broadcast to itself.
///
/// `seq`: NULL for an automatic number (milliseconds since 1970, or one more than
/// the last automatic number of this process if that is higher), else the number:
/// receivers drop a broadcast whose (origin, seq) they have seen, so a later one
/// needs a higher number.
///
/// Ownership: every pointer is borrowed for the call. Threads: any thread except a
/// dipsea runtime thread; blocks while it looks up a range that does not hold this
/// node.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_BAD_INPUT (payload over the
/// bound, more than 160 prefix bits); DIPSEA_SHUTDOWN; DIPSEA_WRONG_THREAD inside a
/// callback.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dipsea_node_broadcast(
    node: *const dipsea_node,
    keypair: *const dipsea_keypair,
    seq: *const i64,
    prefix: *const u8,
    prefix_bits: usize,
    payload: *const u8,
    payload_len: usize,
    out_sent: *mut usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract, for every pointer below.
        let node = unsafe { node_arg(node) }?;
        let keypair = unsafe { arg(keypair, "keypair") }?;
        let range = unsafe { range_arg(prefix, prefix_bits) }?;
        let payload = unsafe { bytes_arg(payload, payload_len, "payload") }?;
        let seq = unsafe { seq.as_ref() }
            .copied()
            .unwrap_or_else(dipsea::push::next_seq);
        let out_sent = out(out_sent, "out_sent")?;
        not_on_runtime()?;
        let key = SigningKey::from_bytes(&keypair.inner.seed());
        let sent = node.inner.broadcast(&key, seq, range, payload)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_sent, sent) };
        Ok(())
    })
}

/// Changes the broadcast policy of `config`'s nodes; unchanged if `change` fails.
///
/// # Safety
/// As [`update`].
unsafe fn set_policy(
    config: *mut dipsea_config,
    change: impl FnOnce(&mut AcceptPolicy) -> Result<(), Failure>,
) -> dipsea_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe {
        update(config, |b: NodeBuilder| {
            let mut policy = b.config_ref().broadcast.accept.clone();
            change(&mut policy)?;
            Ok(b.configure(move |c| c.broadcast.accept = policy))
        })
    }
}

/// Makes the config's nodes deliver and forward every correctly signed broadcast,
/// within a rate per origin and per source IP (options `broadcast.per_origin.per_sec`,
/// `broadcast.per_origin.burst`, `broadcast.per_ip.per_sec`, `broadcast.per_ip.burst`,
/// dipsea_config_set_option). By default a node accepts none.
///
/// Threads: see dipsea_config. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config`
/// is NULL.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_accept_broadcasts_open(
    config: *mut dipsea_config,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe {
        set_policy(config, |p| {
            *p = AcceptPolicy::Open;
            Ok(())
        })
    }
}

/// Makes the config's nodes accept no broadcast (the default): they neither deliver
/// nor forward any, and forget the origins allowed so far.
///
/// Threads: see dipsea_config. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config`
/// is NULL.
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_set_accept_broadcasts_off(
    config: *mut dipsea_config,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded.
    unsafe {
        set_policy(config, |p| {
            *p = AcceptPolicy::Off;
            Ok(())
        })
    }
}

/// Makes the config's nodes accept the broadcasts signed by the ed25519 public key
/// at `public_key` (`key_len` = DIPSEA_PUBLIC_KEY_LEN bytes), besides the origins
/// allowed before; call it once per origin. It replaces an open or off policy: the
/// nodes then accept these origins only.
///
/// Ownership: `public_key` is borrowed for the call. Threads: see dipsea_config.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` or `public_key` is NULL;
/// DIPSEA_BAD_INPUT if `key_len` is not DIPSEA_PUBLIC_KEY_LEN (the config is then
/// unchanged).
#[no_mangle]
pub unsafe extern "C" fn dipsea_config_allow_broadcast_origin(
    config: *mut dipsea_config,
    public_key: *const u8,
    key_len: usize,
) -> dipsea_status {
    // SAFETY: this function's contract, forwarded; `public_key` is NULL or
    // `key_len` readable bytes.
    unsafe {
        set_policy(config, |p| {
            let key = bytes_arg(public_key, key_len, "public_key")?;
            if public_key.is_null() {
                return Err(Failure::null("public_key"));
            }
            let key = <[u8; PUBLIC_KEY_LEN]>::try_from(key).map_err(|_| {
                Failure::invalid(format!(
                    "a public key is {PUBLIC_KEY_LEN} bytes, got {key_len}"
                ))
            })?;
            match p {
                AcceptPolicy::Allowed(keys) => {
                    keys.insert(key);
                }
                other => *other = AcceptPolicy::Allowed(HashSet::from([key])),
            }
            Ok(())
        })
    }
}

/// Called on a node's runtime thread for each new version of a subscribed mutable
/// item, while its listener is not cancelled (dipsea_node_subscribe). `item` is
/// borrowed for the call: copy what you keep, do not free it.
pub type dipsea_update_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, item: *const dipsea_mutable_item)>;

/// The versions a subscription yields.
struct Updates(dipsea::Subscription);

impl Source for Updates {
    type Item = MutableValue;

    async fn next(&mut self) -> Option<MutableValue> {
        self.0.next().await
    }
}

/// Subscribes to the BEP 44 mutable item of the DIPSEA_PUBLIC_KEY_LEN-byte
/// `public_key` and the `salt_len`-byte `salt` (at most 64; NULL when 0): the nodes
/// storing it push each newer version, and `callback(user_data, item)` is called
/// with each, verified, once, in order of sequence number (the current version
/// first, when a storing node has one), until dipsea_listener_cancel or
/// dipsea_listener_free (or the node is freed). Waits for the lookup that finds the
/// storing nodes, then writes the listener to `*out_listener`. Cancelling or freeing
/// the listener ends the subscription soon after (on the node's runtime; the storing
/// nodes are told). A listener more than 64 versions behind (a slow callback) skips
/// the oldest.
///
/// The callback runs as dipsea_node_on_broadcast's does (a runtime thread, one call
/// at a time, no blocking dipsea calls inside; it may cancel or free its own
/// listener).
///
/// Ownership: `public_key` and `salt` are borrowed for the call; `user_data` and
/// `*out_listener` as in dipsea_node_on_broadcast. Threads: any thread except a
/// dipsea runtime thread; blocks during the lookup.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_BAD_INPUT (a key that is not
/// 32 bytes, a salt over 64 bytes); DIPSEA_NO_ROUTE or DIPSEA_TIMEOUT (no storing
/// node that speaks the extension was found); DIPSEA_BUSY (this node subscribes to
/// its most items already); DIPSEA_SHUTDOWN; DIPSEA_WRONG_THREAD inside a callback.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dipsea_node_subscribe(
    node: *const dipsea_node,
    public_key: *const u8,
    public_key_len: usize,
    salt: *const u8,
    salt_len: usize,
    callback: dipsea_update_callback,
    user_data: *mut c_void,
    out_listener: *mut *mut dipsea_listener,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract, for every pointer below.
        let node = unsafe { node_arg(node) }?;
        let key = unsafe { public_key_arg(public_key, public_key_len) }?;
        let salt = unsafe { bytes_arg(salt, salt_len, "salt") }?;
        let callback = callback_arg(callback)?;
        let out_listener = out(out_listener, "out_listener")?;
        not_on_runtime()?;
        let subscription = node
            .inner
            .runtime()
            .block_on(node.inner.handle().subscribe(key, Some(salt)))?;
        let listener = listen(
            node,
            Updates(subscription),
            user_data,
            move |ud, v: &MutableValue| {
                let mut item = dipsea_mutable_item::from_value(v.clone());
                // SAFETY: the caller's callback, with its own user data and an item
                // valid for the call.
                unsafe { callback(ud, &item) };
                // SAFETY: the buffer from_value allocated, freed once here.
                unsafe { crate::buffer::dipsea_buffer_free(&mut item.value) };
            },
        );
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_listener, Box::into_raw(listener)) };
        Ok(())
    })
}

/// Called on a node's runtime thread for each new peer of a subscribed info-hash,
/// while its listener is not cancelled (dipsea_node_subscribe_peers). `peer` is
/// borrowed for the call: copy what you keep.
pub type dipsea_peer_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, peer: *const crate::peer::dipsea_peer)>;

/// The peers a subscription to an info-hash yields.
struct NewPeers(dipsea::PeerSubscription);

impl Source for NewPeers {
    type Item = std::net::SocketAddr;

    async fn next(&mut self) -> Option<std::net::SocketAddr> {
        self.0.next().await
    }
}

/// Subscribes to the peers of `*info_hash`: the nodes closest to it (where an
/// announce stores) push each peer announced to them, and `callback(user_data,
/// peer)` is called with each peer once (those stored already first), until
/// dipsea_listener_cancel or dipsea_listener_free (or the node is freed). Waits for
/// the lookup that finds the storing nodes, then writes the listener to
/// `*out_listener`. Cancelling or freeing the listener ends the subscription soon
/// after. A listener more than 64 peers behind (a slow callback) skips the oldest.
///
/// The callback runs as dipsea_node_on_broadcast's does (a runtime thread, one call
/// at a time, no blocking dipsea calls inside; it may cancel or free its own
/// listener).
///
/// Ownership: `*info_hash` is borrowed for the call; `user_data` and
/// `*out_listener` as in dipsea_node_on_broadcast. Threads: any thread except a
/// dipsea runtime thread; blocks during the lookup.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_NO_ROUTE or DIPSEA_TIMEOUT (no
/// storing node that speaks the extension was found); DIPSEA_BUSY (this node
/// subscribes to its most items already); DIPSEA_BAD_INPUT on a read-only node;
/// DIPSEA_SHUTDOWN; DIPSEA_WRONG_THREAD inside a callback.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_subscribe_peers(
    node: *const dipsea_node,
    info_hash: *const crate::id::dipsea_id,
    callback: dipsea_peer_callback,
    user_data: *mut c_void,
    out_listener: *mut *mut dipsea_listener,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract, for every pointer below.
        let node = unsafe { node_arg(node) }?;
        let info_hash = unsafe { crate::node::id_arg(info_hash, "info_hash") }?;
        let callback = callback_arg(callback)?;
        let out_listener = out(out_listener, "out_listener")?;
        not_on_runtime()?;
        let subscription = node
            .inner
            .runtime()
            .block_on(node.inner.handle().subscribe_peers(info_hash))?;
        let listener = listen(
            node,
            NewPeers(subscription),
            user_data,
            move |ud, addr: &std::net::SocketAddr| {
                let peer = crate::peer::dipsea_peer::from(*addr);
                // SAFETY: the caller's callback, with its own user data and a peer
                // valid for the call.
                unsafe { callback(ud, &peer) };
            },
        );
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_listener, Box::into_raw(listener)) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dipsea::push::MAX_PAYLOAD;

    #[test]
    fn the_headers_payload_bound_is_the_cores() {
        assert_eq!(DIPSEA_BROADCAST_MAX_PAYLOAD, MAX_PAYLOAD);
    }
}
