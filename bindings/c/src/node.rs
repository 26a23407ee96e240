//! `dipsea_node`: a DHT node on a UDP socket, with its own runtime; blocking calls and
//! `_async` calls that report to a callback.

use std::ffi::{c_char, c_void};
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use dipsea::{BlockingNode, Id, NodeStats};

use crate::buffer::dipsea_buffer;
use crate::config::dipsea_config;
use crate::error::{clear_last_error, dipsea_status, set_last_error, Failure};
use crate::ffi::{arg, boundary, bytes_arg, not_on_runtime, out, write_c_string, write_out};
use crate::id::dipsea_id;
use crate::peer::{dipsea_peer, dipsea_peer_list, peers_of};

/// Bytes enough for any address dipsea_node_local_addr writes (`"[v6%scope]:port"`
/// and the NUL).
pub const DIPSEA_ADDR_SIZE: usize = 64;

/// Opaque: a running DHT node. It owns a UDP socket and a runtime whose threads
/// answer queries, run lookups and call callbacks. Created by dipsea_node_new,
/// stopped and released by dipsea_node_free.
///
/// Threads: every function except dipsea_node_free may be called from any number of
/// threads at once on the same node; blocking ones each wait for their own operation.
pub struct dipsea_node {
    pub(crate) inner: BlockingNode,
    /// The async operations whose callback has not returned yet.
    running: Arc<Running>,
}

/// A count of a node's async operations still to report, which dipsea_node_free
/// waits to reach zero: the node's tasks run on the process-wide runtime, whose
/// threads outlive the node, so stopping the node does not wait for them.
#[derive(Debug, Default)]
struct Running {
    count: Mutex<usize>,
    idle: Condvar,
}

impl Running {
    /// Counts one more operation until the guard is dropped.
    fn enter(self: &Arc<Self>) -> RunningGuard {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        RunningGuard(Arc::clone(self))
    }

    /// Blocks until every counted operation's guard is dropped.
    fn wait_idle(&self) {
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        while *count > 0 {
            count = self
                .idle
                .wait(count)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// One counted operation (see [`Running`]).
struct RunningGuard(Arc<Running>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        let mut count = self.0.count.lock().unwrap_or_else(PoisonError::into_inner);
        *count -= 1;
        if *count == 0 {
            self.0.idle.notify_all();
        }
    }
}

/// Counters of a node (dipsea_node_stats): a snapshot, a plain value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct dipsea_stats {
    /// Datagrams received.
    pub packets_in: u64,
    /// Datagrams sent.
    pub packets_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// `ping` queries received.
    pub queries_ping: u64,
    /// `find_node` queries received.
    pub queries_find_node: u64,
    /// `get_peers` queries received.
    pub queries_get_peers: u64,
    /// `announce_peer` queries received.
    pub queries_announce_peer: u64,
    /// `get` (BEP 44) queries received.
    pub queries_get: u64,
    /// `put` (BEP 44) queries received.
    pub queries_put: u64,
    /// Queries of unknown methods received.
    pub queries_other: u64,
    /// Answers received to this node's queries.
    pub responses_in: u64,
    /// KRPC errors received in answer to this node's queries.
    pub errors_in: u64,
    /// Datagrams that did not decode.
    pub malformed: u64,
    /// Datagrams over the size limit, dropped unread.
    pub oversized: u64,
    /// Queries dropped because their source IP was over its rate limit.
    pub rate_limited_ip: u64,
    /// Queries dropped because the node was over its global rate limit.
    pub rate_limited_global: u64,
    /// `announce_peer`/`put` queries refused for a missing or wrong write token.
    pub bad_token: u64,
    /// Puts and announces refused because the store (or the asker's share) was full.
    pub over_quota: u64,
    /// Queries refused (203) for impossible arguments (an announce for port 0);
    /// every other refusal has its own counter.
    pub refused: u64,
    /// Answers that matched no query in flight (late, spoofed or duplicate).
    pub unmatched: u64,
    /// Queries that got no answer after every retry.
    pub timeouts: u64,
    /// Queries sent again after a timeout.
    pub retries: u64,
    /// Queries not sent because the in-flight table was full.
    pub in_flight_full: u64,
    /// Datagrams that could not be sent (socket buffer full).
    pub send_drops: u64,
    /// Operations started.
    pub ops_started: u64,
    /// Operations finished.
    pub ops_done: u64,
    /// Queries awaiting an answer now.
    pub in_flight: u64,
    /// Contacts in the routing table.
    pub routing_table_size: u64,
    /// Immutable items stored for other nodes.
    pub items: u64,
    /// Info-hashes with peers stored for other nodes.
    pub info_hashes: u64,
    /// Bytes of values stored for other nodes.
    pub stored_bytes: u64,
    /// Items this node re-publishes (its own puts).
    pub published: u64,
    /// Whether the node id conforms to the external address (BEP 42): 1 yes, 0 no,
    /// -1 while the external address is not yet known.
    pub id_conforms: i32,
    /// The external IP address other nodes report (BEP 42 vote), as text with a
    /// terminating NUL; empty while not yet known.
    pub external_ip: [c_char; DIPSEA_IP_SIZE],
    /// `sample_infohashes` queries received (BEP 51).
    pub queries_sample_infohashes: u64,
    /// `sample_infohashes` queries refused because their source had a sample less
    /// than the interval (6 hours) ago.
    pub sample_refused: u64,
    /// How many nodes the network holds, estimated from this node's lookups; 0
    /// before the first lookup ends.
    pub network_size: u64,
    /// Broadcasts this node started (dipsea_node_broadcast).
    pub broadcasts_started: u64,
    /// Broadcasts received, accepted and delivered.
    pub broadcasts_delivered: u64,
    /// Broadcast hand-off datagrams sent, retries included.
    pub broadcasts_forwarded: u64,
    /// Broadcasts received and refused (policy, rate, signature, replay, size, range).
    pub broadcasts_refused: u64,
    /// Second copies of broadcasts received and dropped.
    pub broadcasts_duplicate: u64,
    /// Subscriptions to mutable items this node holds for others (as a storing node).
    pub subscriptions_held: u64,
    /// Mutable items this node subscribes to itself.
    pub subscriptions_active: u64,
    /// Notifications (`dipsea_notify`) sent to subscribers.
    pub notifications_sent: u64,
    /// New versions received and delivered, each verified.
    pub notifications_received: u64,
    /// Subscriptions refused because this node held its most already.
    pub subscribe_refused_node: u64,
    /// Subscriptions refused because their IP address held its most already.
    pub subscribe_refused_ip: u64,
    /// Notifications refused: no subscription to their target here.
    pub notify_unsolicited: u64,
    /// Notifications refused: malformed, wrong target or bad signature.
    pub notify_invalid: u64,
    /// Notifications not newer than the version held (acknowledged, not delivered).
    pub notify_stale: u64,
    /// Storing nodes dropped by a subscription and replaced by a lookup.
    pub resubscribes: u64,
    /// Messages dropped because they belong to another network (see
    /// dipsea_config_set_network): a different or missing network id, or one on a
    /// public node.
    pub foreign_network: u64,
    /// Mutable puts refused (206): the signature does not verify.
    pub bad_signature: u64,
    /// Mutable puts refused (302): the stored version is newer.
    pub seq_too_old: u64,
    /// Mutable puts refused (301): `cas` is not the stored sequence number.
    pub cas_mismatch: u64,
    /// Mutable puts refused (207): the salt is over 64 bytes.
    pub salt_too_big: u64,
    /// Puts refused (205): the value is over 1,000 bytes.
    pub value_too_big: u64,
    /// Mutable puts refused (203): the target is not SHA-1(key + salt).
    pub target_mismatch: u64,
    /// Queries refused (204): unknown method without a target.
    pub unknown_method: u64,
    /// Members a one-hop node knows, itself included (0 on a Kademlia node; see
    /// dipsea_config_set_overlay).
    pub members: u64,
    /// Membership events refused: a join not signed by its member's key, a
    /// departure announced by a non-member, a malformed event, a listed member
    /// without a valid signed join the accept policy allows.
    pub members_forged: u64,
    /// Departures announced by another member that this node's own ping refuted.
    pub members_refuted: u64,
    /// Members this node found unresponsive itself, removed and announced gone.
    pub members_detected: u64,
    /// Items this one-hop node put to a new owner after the members changed,
    /// counted when the owner acknowledged the put.
    pub items_handed_off: u64,
    /// Hand-off puts waiting to be sent.
    pub handoff_queued: u64,
    /// Hand-off puts given up: unanswered or refused at each of their sends, or
    /// their owner left meanwhile.
    pub handoff_failed: u64,
}

impl Default for dipsea_stats {
    /// All counters zero, the external address empty and unknown.
    fn default() -> Self {
        dipsea_stats {
            packets_in: 0,
            packets_out: 0,
            bytes_in: 0,
            bytes_out: 0,
            queries_ping: 0,
            queries_find_node: 0,
            queries_get_peers: 0,
            queries_announce_peer: 0,
            queries_get: 0,
            queries_put: 0,
            queries_other: 0,
            responses_in: 0,
            errors_in: 0,
            malformed: 0,
            oversized: 0,
            rate_limited_ip: 0,
            rate_limited_global: 0,
            bad_token: 0,
            over_quota: 0,
            refused: 0,
            unmatched: 0,
            timeouts: 0,
            retries: 0,
            in_flight_full: 0,
            send_drops: 0,
            ops_started: 0,
            ops_done: 0,
            foreign_network: 0,
            in_flight: 0,
            routing_table_size: 0,
            items: 0,
            info_hashes: 0,
            stored_bytes: 0,
            published: 0,
            id_conforms: -1,
            external_ip: [0; DIPSEA_IP_SIZE],
            queries_sample_infohashes: 0,
            sample_refused: 0,
            network_size: 0,
            broadcasts_started: 0,
            broadcasts_delivered: 0,
            broadcasts_forwarded: 0,
            broadcasts_refused: 0,
            broadcasts_duplicate: 0,
            subscriptions_held: 0,
            subscriptions_active: 0,
            notifications_sent: 0,
            notifications_received: 0,
            subscribe_refused_node: 0,
            subscribe_refused_ip: 0,
            notify_unsolicited: 0,
            notify_invalid: 0,
            notify_stale: 0,
            resubscribes: 0,
            bad_signature: 0,
            seq_too_old: 0,
            cas_mismatch: 0,
            salt_too_big: 0,
            value_too_big: 0,
            target_mismatch: 0,
            unknown_method: 0,
            members: 0,
            members_forged: 0,
            members_refuted: 0,
            members_detected: 0,
            items_handed_off: 0,
            handoff_queued: 0,
            handoff_failed: 0,
        }
    }
}

/// Bytes of `dipsea_stats.external_ip`: the longest IPv6 address and its NUL.
pub const DIPSEA_IP_SIZE: usize = 48;

impl From<&NodeStats> for dipsea_stats {
    fn from(s: &NodeStats) -> dipsea_stats {
        let wide = |n: usize| n as u64;
        let mut out = dipsea_stats {
            packets_in: s.packets_in,
            packets_out: s.packets_out,
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            responses_in: s.responses_in,
            errors_in: s.errors_in,
            malformed: s.malformed,
            oversized: s.oversized,
            rate_limited_ip: s.rate_limited_ip,
            rate_limited_global: s.rate_limited_global,
            bad_token: s.bad_token,
            over_quota: s.over_quota,
            refused: s.refused,
            unmatched: s.unmatched,
            timeouts: s.timeouts,
            retries: s.retries,
            in_flight_full: s.in_flight_full,
            send_drops: s.send_drops,
            ops_started: s.ops_started,
            ops_done: s.ops_done,
            in_flight: wide(s.in_flight),
            routing_table_size: wide(s.routing_table_size),
            items: wide(s.items),
            info_hashes: wide(s.info_hashes),
            stored_bytes: wide(s.stored_bytes),
            published: wide(s.published),
            queries_ping: s.queries_in.ping,
            queries_find_node: s.queries_in.find_node,
            queries_get_peers: s.queries_in.get_peers,
            queries_announce_peer: s.queries_in.announce_peer,
            queries_get: s.queries_in.get,
            queries_put: s.queries_in.put,
            queries_other: s.queries_in.other,
            queries_sample_infohashes: s.queries_in.sample_infohashes,
            id_conforms: s.id_conforms.map_or(-1, i32::from),
            sample_refused: s.sample_refused,
            network_size: s.network_size.unwrap_or(0),
            broadcasts_started: s.broadcasts_started,
            broadcasts_delivered: s.broadcasts_delivered,
            broadcasts_forwarded: s.broadcasts_forwarded,
            broadcasts_refused: s.broadcasts_refused,
            broadcasts_duplicate: s.broadcasts_duplicate,
            subscriptions_held: wide(s.subscriptions_held),
            subscriptions_active: wide(s.subscriptions_active),
            notifications_sent: s.notifications_sent,
            notifications_received: s.notifications_received,
            subscribe_refused_node: s.subscribe_refused_node,
            subscribe_refused_ip: s.subscribe_refused_ip,
            notify_unsolicited: s.notify_unsolicited,
            notify_invalid: s.notify_invalid,
            notify_stale: s.notify_stale,
            resubscribes: s.resubscribes,
            foreign_network: s.foreign_network,
            bad_signature: s.bad_signature,
            seq_too_old: s.seq_too_old,
            cas_mismatch: s.cas_mismatch,
            salt_too_big: s.salt_too_big,
            value_too_big: s.value_too_big,
            target_mismatch: s.target_mismatch,
            unknown_method: s.unknown_method,
            members: wide(s.members),
            members_forged: s.members_forged,
            members_refuted: s.members_refuted,
            members_detected: s.members_detected,
            items_handed_off: s.items_handed_off,
            handoff_queued: wide(s.handoff_queued),
            handoff_failed: s.handoff_failed,
            ..dipsea_stats::default()
        };
        if let Some(ip) = s.external_ip {
            let text = ip.to_string();
            for (to, from) in out.external_ip.iter_mut().zip(text.bytes()) {
                *to = from as c_char;
            }
        }
        out
    }
}

/// Called once when dipsea_node_bootstrap_async or dipsea_node_announce_async
/// finishes: `count` is the routing table size after joining, or how many nodes
/// acknowledged the announce; 0 unless `status` is DIPSEA_OK.
pub type dipsea_count_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, status: dipsea_status, count: usize)>;

/// Called once when dipsea_node_put_async finishes: `key` is the item's key, valid
/// during the call only (copy it); NULL unless `status` is DIPSEA_OK.
pub type dipsea_put_callback = Option<
    unsafe extern "C" fn(user_data: *mut c_void, status: dipsea_status, key: *const dipsea_id),
>;

/// Called once when dipsea_node_get_async finishes: `value` is valid during the call
/// only (copy what you keep; do not free it); NULL unless `status` is DIPSEA_OK
/// (DIPSEA_NOT_FOUND when no node holds the key).
pub type dipsea_get_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        status: dipsea_status,
        value: *const dipsea_buffer,
    ),
>;

/// Called once when dipsea_node_get_peers_async finishes: `peers` points to `count`
/// peer addresses; valid during the call only (copy what you keep; do not free it);
/// NULL when `count` is 0 or `status` is not DIPSEA_OK.
pub type dipsea_peers_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        status: dipsea_status,
        peers: *const dipsea_peer,
        count: usize,
    ),
>;

/// Starts a node: binds its UDP socket, starts its runtime threads, and begins joining
/// the network through the bootstrap addresses in the background (call
/// dipsea_node_bootstrap to wait for that).
///
/// Ownership: `config` is only read (free it whenever you like); `*out_node` is yours:
/// stop and release it with dipsea_node_free.
/// Threads: any thread except a dipsea runtime thread (inside a callback).
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `config` or `out_node` is NULL;
/// DIPSEA_BAD_INPUT if the bind or a bootstrap address does not resolve;
/// DIPSEA_IO if the socket cannot be bound (address in use, no permission);
/// DIPSEA_WRONG_THREAD inside a callback.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_new(
    config: *const dipsea_config,
    out_node: *mut *mut dipsea_node,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a live config, by this function's contract.
        let config = unsafe { arg(config, "config") }?;
        let out_node = out(out_node, "out_node")?;
        not_on_runtime()?;
        let inner = config.builder.clone().start_blocking()?;
        let running = Arc::default();
        let node = Box::into_raw(Box::new(dipsea_node { inner, running }));
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_node, node) };
        Ok(())
    })
}

/// Stops a node and releases it: saves the routing table (if a state path is set),
/// ends the operations still running (their callbacks are called with
/// DIPSEA_SHUTDOWN, possibly on this thread, before this function returns), stops its
/// threads and closes its socket. NULL: a no-op.
///
/// Ownership: `node` is invalid afterwards. Threads: any thread except a dipsea
/// runtime thread, once no other thread uses `node`; it blocks until the node's
/// threads have stopped (so a callback that never returns blocks it too).
/// Statuses: DIPSEA_OK; DIPSEA_WRONG_THREAD inside a callback (nothing is freed then:
/// free it from another thread).
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_free(node: *mut dipsea_node) -> dipsea_status {
    boundary(|| {
        if node.is_null() {
            return Ok(());
        }
        not_on_runtime()?;
        // SAFETY: non-NULL, made by dipsea_node_new, freed once and used by nobody
        // else now (contract). Dropping it shuts the node down (and a dedicated
        // runtime); its operations then end, and their callbacks run.
        let node = unsafe { Box::from_raw(node) };
        let running = Arc::clone(&node.running);
        drop(node);
        // On the shared runtime a callback may still be running on its thread.
        running.wait_idle();
        Ok(())
    })
}

/// Borrows a node argument.
///
/// # Safety
/// `node` is NULL or a live node.
pub(crate) unsafe fn node_arg<'a>(node: *const dipsea_node) -> Result<&'a dipsea_node, Failure> {
    // SAFETY: the caller's contract.
    unsafe { arg(node, "node") }
}

/// Borrows an id argument by value.
///
/// # Safety
/// `id` is NULL or a valid dipsea_id.
pub(crate) unsafe fn id_arg(id: *const dipsea_id, name: &str) -> Result<Id, Failure> {
    // SAFETY: the caller's contract.
    Ok(Id::from(*unsafe { arg(id, name) }?))
}

/// Joins (or re-joins) the network now and waits until the joining lookup ends;
/// writes the routing table size to `*out_table_size`.
///
/// Threads: any thread except a dipsea runtime thread; blocks.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if an argument is NULL;
/// DIPSEA_TIMEOUT if no bootstrap node answered (a dead address); DIPSEA_NO_ROUTE if
/// the node has no bootstrap address and an empty table; DIPSEA_SHUTDOWN;
/// DIPSEA_WRONG_THREAD inside a callback.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_bootstrap(
    node: *const dipsea_node,
    out_table_size: *mut usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        let out_table_size = out(out_table_size, "out_table_size")?;
        not_on_runtime()?;
        let size = node.inner.bootstrap()?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_table_size, size) };
        Ok(())
    })
}

/// Stores `value_len` bytes at `value` as a BEP 44 immutable item on the k nodes
/// closest to its key, waits for them to acknowledge, and writes the key
/// (SHA-1 of the bencoded value) to `*out_key`. The node re-publishes the item until
/// dipsea_node_unpublish or dipsea_node_free. `value` may be NULL when `value_len` is 0.
///
/// Ownership: `value` is borrowed for the call. Threads: any thread except a dipsea
/// runtime thread; blocks.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_BAD_INPUT if the bencoded
/// value exceeds 1000 bytes; DIPSEA_NO_ROUTE, DIPSEA_TIMEOUT, DIPSEA_NOT_STORED,
/// DIPSEA_BUSY, DIPSEA_SHUTDOWN; DIPSEA_WRONG_THREAD inside a callback.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_put(
    node: *const dipsea_node,
    value: *const u8,
    value_len: usize,
    out_key: *mut dipsea_id,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: NULL or `value_len` readable bytes, by contract.
        let value = unsafe { bytes_arg(value, value_len, "value") }?;
        let out_key = out(out_key, "out_key")?;
        not_on_runtime()?;
        let put = node.inner.put(value)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_key, put.key.into()) };
        Ok(())
    })
}

/// Looks up the immutable item `*key` and writes its value into `*out_value`.
///
/// Ownership: `*out_value` is yours on DIPSEA_OK: release it with dipsea_buffer_free
/// (`out_value->data[out_value->len]` is 0, so a text value is a C string).
/// Threads: any thread except a dipsea runtime thread; blocks.
/// Statuses: DIPSEA_OK; DIPSEA_NOT_FOUND if no node holds the key (`*out_value`
/// untouched); DIPSEA_NULL_ARGUMENT; DIPSEA_NO_ROUTE, DIPSEA_TIMEOUT, DIPSEA_BUSY,
/// DIPSEA_SHUTDOWN; DIPSEA_WRONG_THREAD inside a callback.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_get(
    node: *const dipsea_node,
    key: *const dipsea_id,
    out_value: *mut dipsea_buffer,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: this function's contract.
        let key = unsafe { id_arg(key, "key") }?;
        let out_value = out(out_value, "out_value")?;
        not_on_runtime()?;
        let value = found(node.inner.get(key)?, key)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_value, dipsea_buffer::from_vec(value)) };
        Ok(())
    })
}

fn found(value: Option<Vec<u8>>, key: Id) -> Result<Vec<u8>, Failure> {
    value.ok_or_else(|| {
        Failure::new(
            dipsea_status::DIPSEA_NOT_FOUND,
            format!("no node holds the item {key}"),
        )
    })
}

/// Stops re-publishing the item `*key` that this node put (it expires from the
/// network later); writes whether it was published here to `*out_was_published`.
///
/// Threads: any thread; does not block.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_unpublish(
    node: *const dipsea_node,
    key: *const dipsea_id,
    out_was_published: *mut bool,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: this function's contract.
        let key = unsafe { id_arg(key, "key") }?;
        let out_was_published = out(out_was_published, "out_was_published")?;
        let was = node.inner.unpublish(key);
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_was_published, was) };
        Ok(())
    })
}

/// The announce port the core takes: 0 means the node's own UDP port.
pub(crate) fn announce_port(port: u16) -> Option<u16> {
    (port != 0).then_some(port)
}

/// Announces that this host serves the torrent `*info_hash` on TCP/UDP `port` (BEP 5
/// `announce_peer` to the k closest nodes; 0: the node's own UDP port, sent as
/// `implied_port`), and writes how many nodes acknowledged to `*out_stored`. The node
/// re-announces it periodically.
///
/// Threads: any thread except a dipsea runtime thread; blocks.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_NO_ROUTE, DIPSEA_TIMEOUT,
/// DIPSEA_NOT_STORED, DIPSEA_BUSY, DIPSEA_SHUTDOWN; DIPSEA_WRONG_THREAD inside a
/// callback.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_announce(
    node: *const dipsea_node,
    info_hash: *const dipsea_id,
    port: u16,
    out_stored: *mut usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: this function's contract.
        let info_hash = unsafe { id_arg(info_hash, "info_hash") }?;
        let out_stored = out(out_stored, "out_stored")?;
        not_on_runtime()?;
        let stored = node.inner.announce(info_hash, announce_port(port))?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_stored, stored) };
        Ok(())
    })
}

/// Looks up the peers announced for `*info_hash` and writes them to `*out_peers`, an
/// array of `out_peers->count` address structs (dipsea_peer_to_string formats one).
/// No peers is a success: `{NULL, 0}`.
///
/// Ownership: `*out_peers` is yours on DIPSEA_OK: release it with
/// dipsea_peer_list_free. Threads: any thread except a dipsea runtime thread; blocks.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_NO_ROUTE, DIPSEA_TIMEOUT,
/// DIPSEA_BUSY, DIPSEA_SHUTDOWN; DIPSEA_WRONG_THREAD inside a callback.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_get_peers(
    node: *const dipsea_node,
    info_hash: *const dipsea_id,
    out_peers: *mut dipsea_peer_list,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: this function's contract.
        let info_hash = unsafe { id_arg(info_hash, "info_hash") }?;
        let out_peers = out(out_peers, "out_peers")?;
        not_on_runtime()?;
        let peers = node.inner.get_peers(info_hash)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_peers, dipsea_peer_list::from_addrs(&peers)) };
        Ok(())
    })
}

/// Writes the node's bound UDP address as `"IP:PORT"` and a NUL into `out_addr`, a
/// buffer of `out_addr_len` bytes (DIPSEA_ADDR_SIZE is always enough). Pass it to
/// dipsea_config_add_bootstrap to join other nodes to this one.
///
/// Threads: any thread; does not block.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_BUFFER_TOO_SMALL (nothing written).
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_local_addr(
    node: *const dipsea_node,
    out_addr: *mut c_char,
    out_addr_len: usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        let out_addr = out(out_addr, "out_addr")?;
        let addr = node.inner.local_addr().to_string();
        // SAFETY: non-NULL, `out_addr_len` writable bytes by contract.
        unsafe { write_c_string(out_addr, out_addr_len, &addr) }
    })
}

/// Writes a dual-stack node's bound IPv6 address (BEP 32) as `"[IP]:PORT"` and a
/// NUL into `out_addr`, as dipsea_node_local_addr does; a node with one socket
/// writes the empty string.
///
/// Threads: any thread; does not block.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_BUFFER_TOO_SMALL (nothing written).
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_local_addr6(
    node: *const dipsea_node,
    out_addr: *mut c_char,
    out_addr_len: usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        let out_addr = out(out_addr, "out_addr")?;
        let addr = node
            .inner
            .local_addr6()
            .map_or_else(String::new, |a| a.to_string());
        // SAFETY: non-NULL, `out_addr_len` writable bytes by contract.
        unsafe { write_c_string(out_addr, out_addr_len, &addr) }
    })
}

/// Writes the node's id to `*out_id`.
///
/// Threads: any thread; does not block. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_id(
    node: *const dipsea_node,
    out_id: *mut dipsea_id,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        let out_id = out(out_id, "out_id")?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_id, node.inner.id().into()) };
        Ok(())
    })
}

/// Writes a snapshot of the node's counters to `*out_stats`.
///
/// Threads: any thread; does not block. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_stats(
    node: *const dipsea_node,
    out_stats: *mut dipsea_stats,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        let out_stats = out(out_stats, "out_stats")?;
        let stats = dipsea_stats::from(&node.inner.stats());
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_stats, stats) };
        Ok(())
    })
}

// ---------------------------------------------------------------------------------
// Async variants: one task on the node's runtime per call, reporting to a callback.

/// The caller's `user_data`, handed back to its callback on a runtime thread. The
/// header tells callers that it crosses threads.
pub(crate) struct UserData(pub(crate) *mut c_void);

// SAFETY: the pointer is only passed back to the caller's callback, never
// dereferenced here; the caller agreed (header) that it may be used on another thread.
unsafe impl Send for UserData {}

/// Calls a C callback exactly once: with the operation's result, or, if the task is
/// dropped before it finished (the node was freed, or a panic), with DIPSEA_SHUTDOWN
/// (DIPSEA_PANIC).
pub(crate) struct Completion<T> {
    call: Option<Deliver<T>>,
}

/// Delivers an operation's result to the C callback.
type Deliver<T> = Box<dyn FnOnce(Result<T, Failure>) + Send>;

impl<T> Completion<T> {
    /// `invoke` receives the status, the successful value if any, and the user data;
    /// the thread's last error is set to the failure's message first.
    pub(crate) fn new(
        user_data: *mut c_void,
        invoke: impl FnOnce(*mut c_void, dipsea_status, Option<&T>) + Send + 'static,
    ) -> Completion<T> {
        let user_data = UserData(user_data);
        Completion {
            call: Some(Box::new(move |result: Result<T, Failure>| {
                let user_data = user_data;
                let status = match &result {
                    Ok(_) => {
                        clear_last_error();
                        dipsea_status::DIPSEA_OK
                    }
                    Err(failure) => {
                        set_last_error(&failure.message);
                        failure.status
                    }
                };
                invoke(user_data.0, status, result.as_ref().ok());
            })),
        }
    }

    fn finish(mut self, result: Result<T, Failure>) {
        if let Some(call) = self.call.take() {
            call(result);
        }
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            let failure = if std::thread::panicking() {
                Failure::new(
                    dipsea_status::DIPSEA_PANIC,
                    "panic in dipsea while the operation ran",
                )
            } else {
                Failure::new(
                    dipsea_status::DIPSEA_SHUTDOWN,
                    "the node was freed while the operation ran",
                )
            };
            call(Err(failure));
        }
    }
}

/// Runs `op` on the node's runtime and reports its result through `completion`.
pub(crate) fn spawn_op<T, F>(node: &dipsea_node, completion: Completion<T>, op: F)
where
    T: 'static,
    F: Future<Output = Result<T, Failure>> + Send + 'static,
{
    // Fields drop in order: the completion (a callback with DIPSEA_SHUTDOWN if the
    // task is dropped unfinished) before the guard.
    struct Counted<T> {
        completion: Completion<T>,
        _running: RunningGuard,
    }
    let counted = Counted {
        completion,
        _running: node.running.enter(),
    };
    node.inner.runtime().spawn(async move {
        let result = op.await;
        let Counted {
            completion,
            _running,
        } = counted;
        completion.finish(result);
    });
}

/// Checks a callback argument.
pub(crate) fn callback_arg<F>(callback: Option<F>) -> Result<F, Failure> {
    callback.ok_or_else(|| Failure::null("callback"))
}

/// dipsea_node_bootstrap without blocking: joins the network and calls
/// `callback(user_data, status, table_size)` once when the joining lookup ends.
///
/// Ownership: `user_data` is yours; it is passed to `callback` untouched, on another
/// thread. Threads: any thread, callbacks included; returns at once.
/// The callback runs exactly once, on one of the node's runtime threads (or, if the
/// node is freed first, with DIPSEA_SHUTDOWN inside dipsea_node_free); it must not
/// block for long, must not throw or longjmp, and may call dipsea functions except
/// blocking ones and dipsea_node_free (DIPSEA_WRONG_THREAD there).
/// Statuses (returned): DIPSEA_OK (the callback will run); DIPSEA_NULL_ARGUMENT if
/// `node` or `callback` is NULL (the callback will not run).
/// Statuses (to the callback): as dipsea_node_bootstrap.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_bootstrap_async(
    node: *const dipsea_node,
    callback: dipsea_count_callback,
    user_data: *mut c_void,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        let callback = callback_arg(callback)?;
        let completion = Completion::new(user_data, move |ud, status, size: Option<&usize>| {
            // SAFETY: the caller's callback, called once as documented.
            unsafe { callback(ud, status, size.copied().unwrap_or(0)) }
        });
        let handle = node.inner.handle().clone();
        spawn_op(
            node,
            completion,
            async move { Ok(handle.bootstrap().await?) },
        );
        Ok(())
    })
}

/// dipsea_node_put without blocking: copies the value, stores it, and calls
/// `callback(user_data, status, key)` once when done (`key` NULL on failure).
///
/// Ownership: `value` is copied before this returns; `user_data` as in
/// dipsea_node_bootstrap_async. Threads and callback rules: as
/// dipsea_node_bootstrap_async.
/// Statuses (returned): DIPSEA_OK (the callback will run); DIPSEA_NULL_ARGUMENT if
/// `node` or `callback` is NULL, or `value` is NULL with `value_len > 0` (the
/// callback will not run). Statuses (to the callback): as dipsea_node_put.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_put_async(
    node: *const dipsea_node,
    value: *const u8,
    value_len: usize,
    callback: dipsea_put_callback,
    user_data: *mut c_void,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: NULL or `value_len` readable bytes, by contract.
        let value = unsafe { bytes_arg(value, value_len, "value") }?.to_vec();
        let callback = callback_arg(callback)?;
        let completion = Completion::new(user_data, move |ud, status, key: Option<&Id>| {
            let key = key.map(|k| dipsea_id::from(*k));
            let key_ptr = key.as_ref().map_or(std::ptr::null(), |k| k as *const _);
            // SAFETY: the caller's callback, called once; `key_ptr` outlives the call.
            unsafe { callback(ud, status, key_ptr) }
        });
        let handle = node.inner.handle().clone();
        spawn_op(node, completion, async move {
            Ok(handle.put(&value).await?.key)
        });
        Ok(())
    })
}

/// dipsea_node_get without blocking: calls `callback(user_data, status, value)` once
/// when the lookup ends; `value` (DIPSEA_OK only) is borrowed for the call.
///
/// Ownership: `*key` is copied; `user_data` as in dipsea_node_bootstrap_async.
/// Threads and callback rules: as dipsea_node_bootstrap_async.
/// Statuses (returned): DIPSEA_OK (the callback will run); DIPSEA_NULL_ARGUMENT if
/// `node`, `key` or `callback` is NULL (the callback will not run).
/// Statuses (to the callback): as dipsea_node_get, DIPSEA_NOT_FOUND included.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_get_async(
    node: *const dipsea_node,
    key: *const dipsea_id,
    callback: dipsea_get_callback,
    user_data: *mut c_void,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: this function's contract.
        let key = unsafe { id_arg(key, "key") }?;
        let callback = callback_arg(callback)?;
        let completion = Completion::new(user_data, move |ud, status, value: Option<&Vec<u8>>| {
            let buffer = value.map(|v| dipsea_buffer::borrowed(v));
            let ptr = buffer.as_ref().map_or(std::ptr::null(), |b| b as *const _);
            // SAFETY: the caller's callback, called once; `ptr` and the bytes it points
            // to outlive the call.
            unsafe { callback(ud, status, ptr) }
        });
        let handle = node.inner.handle().clone();
        spawn_op(node, completion, async move {
            let mut value = found(handle.get(key).await?, key)?;
            value.push(0);
            Ok(value)
        });
        Ok(())
    })
}

/// dipsea_node_announce without blocking: calls `callback(user_data, status, stored)`
/// once when done.
///
/// Ownership: `*info_hash` is copied; `user_data` as in dipsea_node_bootstrap_async.
/// Threads and callback rules: as dipsea_node_bootstrap_async.
/// Statuses (returned): DIPSEA_OK (the callback will run); DIPSEA_NULL_ARGUMENT if
/// `node`, `info_hash` or `callback` is NULL (the callback will not run).
/// Statuses (to the callback): as dipsea_node_announce.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_announce_async(
    node: *const dipsea_node,
    info_hash: *const dipsea_id,
    port: u16,
    callback: dipsea_count_callback,
    user_data: *mut c_void,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: this function's contract.
        let info_hash = unsafe { id_arg(info_hash, "info_hash") }?;
        let callback = callback_arg(callback)?;
        let completion = Completion::new(user_data, move |ud, status, n: Option<&usize>| {
            // SAFETY: the caller's callback, called once as documented.
            unsafe { callback(ud, status, n.copied().unwrap_or(0)) }
        });
        let handle = node.inner.handle().clone();
        spawn_op(node, completion, async move {
            Ok(handle.announce(info_hash, announce_port(port)).await?)
        });
        Ok(())
    })
}

/// dipsea_node_get_peers without blocking: calls
/// `callback(user_data, status, peers, count)` once when the lookup ends; `peers`
/// (DIPSEA_OK only) is an array of `count` address structs borrowed for the call.
///
/// Ownership: `*info_hash` is copied; `user_data` as in dipsea_node_bootstrap_async.
/// Threads and callback rules: as dipsea_node_bootstrap_async.
/// Statuses (returned): DIPSEA_OK (the callback will run); DIPSEA_NULL_ARGUMENT if
/// `node`, `info_hash` or `callback` is NULL (the callback will not run).
/// Statuses (to the callback): as dipsea_node_get_peers.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_get_peers_async(
    node: *const dipsea_node,
    info_hash: *const dipsea_id,
    callback: dipsea_peers_callback,
    user_data: *mut c_void,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: this function's contract.
        let info_hash = unsafe { id_arg(info_hash, "info_hash") }?;
        let callback = callback_arg(callback)?;
        let completion = Completion::new(
            user_data,
            move |ud, status, peers: Option<&Vec<dipsea_peer>>| {
                let peers = peers.map_or(&[][..], |p| p.as_slice());
                let ptr = if peers.is_empty() {
                    std::ptr::null()
                } else {
                    peers.as_ptr()
                };
                // SAFETY: the caller's callback, called once; `ptr` and the peers it
                // points to outlive the call.
                unsafe { callback(ud, status, ptr, peers.len()) }
            },
        );
        let handle = node.inner.handle().clone();
        spawn_op(node, completion, async move {
            Ok(peers_of(&handle.get_peers(info_hash).await?))
        });
        Ok(())
    })
}

#[cfg(test)]
mod stats_schema_tests {
    use dipsea::NodeStats;

    /// The C struct is declared by hand (cbindgen reads the source, not macro
    /// expansions): every counter of the core's schema must be a field of it.
    #[test]
    fn the_c_stats_struct_has_every_counter_of_the_schema() {
        let header = include_str!("../../../include/dipsea.h");
        let start = header
            .find("typedef struct dipsea_stats")
            .expect("dipsea_stats");
        let end = start + header[start..].find("} dipsea_stats;").expect("its end");
        let fields = &header[start..end];
        let stats = NodeStats::default();
        let names = stats.counters().map(|(name, _)| name.to_string()).chain(
            stats
                .queries_in
                .fields()
                .map(|(m, _)| format!("queries_{m}")),
        );
        for name in names {
            assert!(
                fields.contains(&format!("uint64_t {name};")),
                "dipsea_stats lacks {name}"
            );
        }
    }
}
