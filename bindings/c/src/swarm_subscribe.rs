//! Subscriptions in the simulator from C (the core's `sim::subscribe`): subscribe
//! chosen nodes of a dipsea_swarm to a mutable item (dipsea_swarm_subscribe) or to an
//! info-hash's peers (dipsea_swarm_subscribe_peers), publish from chosen nodes
//! (dipsea_swarm_put_mutable, dipsea_swarm_announce), and read what each subscriber
//! was delivered (dipsea_swarm_take_updates, dipsea_swarm_take_peer_updates).

use dipsea::sim::{Delivery, PeerDelivery};

use crate::error::dipsea_status;
use crate::ffi::{arg, boundary, bytes_arg, out, write_out};
use crate::id::dipsea_id;
use crate::keypair::dipsea_keypair;
use crate::mutable::public_key_arg;
use crate::peer::dipsea_peer;
use crate::swarm::{dipsea_swarm, swarm_arg};

/// One version of a subscribed mutable item delivered to one subscriber
/// (dipsea_swarm_take_updates). A plain value.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct dipsea_swarm_update {
    /// The subscribing node's index.
    pub node: usize,
    /// The version's sequence number.
    pub seq: i64,
    /// When it was delivered: virtual ms since the swarm was created (as
    /// dipsea_swarm_summary.virtual_ms counts).
    pub at_ms: u64,
}

/// One peer of a subscribed info-hash delivered to one subscriber
/// (dipsea_swarm_take_peer_updates). A plain value.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct dipsea_swarm_peer_update {
    /// The subscribing node's index.
    pub node: usize,
    /// The info-hash subscribed to.
    pub info_hash: dipsea_id,
    /// The peer announced.
    pub peer: dipsea_peer,
    /// When it was delivered: virtual ms since the swarm was created.
    pub at_ms: u64,
}

/// Versions the library allocated for you (dipsea_swarm_take_updates): `count`
/// structs at `updates`.
///
/// Ownership: yours once written; release it with dipsea_swarm_update_list_free,
/// exactly once. A list with `updates == NULL` is empty and needs no freeing.
#[repr(C)]
#[derive(Debug)]
pub struct dipsea_swarm_update_list {
    /// The deliveries, in order; NULL when `count` is 0.
    pub updates: *mut dipsea_swarm_update,
    /// How many `updates` holds.
    pub count: usize,
}

/// Peers the library allocated for you (dipsea_swarm_take_peer_updates): `count`
/// structs at `updates`.
///
/// Ownership: yours once written; release it with
/// dipsea_swarm_peer_update_list_free, exactly once. A list with `updates == NULL`
/// is empty and needs no freeing.
#[repr(C)]
#[derive(Debug)]
pub struct dipsea_swarm_peer_update_list {
    /// The deliveries, in order; NULL when `count` is 0.
    pub updates: *mut dipsea_swarm_peer_update,
    /// How many `updates` holds.
    pub count: usize,
}

/// Moves `items` into a library allocation: `(NULL, 0)` when empty, else a boxed
/// slice released by [`free_slice`].
fn into_raw<T>(items: Vec<T>) -> (*mut T, usize) {
    if items.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    let items = items.into_boxed_slice();
    let count = items.len();
    (Box::into_raw(items).cast::<T>(), count)
}

/// Releases what [`into_raw`] made and resets the pointer and count.
///
/// # Safety
/// `*ptr` and `*count` are NULL and anything, or as `into_raw` made them, freed once.
unsafe fn free_slice<T>(ptr: &mut *mut T, count: &mut usize) {
    if !ptr.is_null() {
        let whole = std::ptr::slice_from_raw_parts_mut(*ptr, *count);
        // SAFETY: a boxed slice of `count` items from `into_raw`, by the contract.
        drop(unsafe { Box::from_raw(whole) });
    }
    *ptr = std::ptr::null_mut();
    *count = 0;
}

/// Node `node` subscribes to the BEP 44 mutable item of the `public_key_len`-byte
/// `public_key` (DIPSEA_PUBLIC_KEY_LEN) and the `salt_len`-byte `salt` (at most 64;
/// NULL when 0): a lookup, then a subscribe message to the storing nodes it found, which
/// push each newer version from then on (read with dipsea_swarm_take_updates). Runs
/// virtual time until that ends and writes how many storing nodes were asked to
/// `*out_asked`.
///
/// In a one-hop swarm a subscription goes to the item's owners, which
/// dipsea_swarm_put_mutable stores on.
///
/// Ownership: every pointer is borrowed for the call. Threads: see dipsea_swarm.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_BAD_INPUT (a key that is not
/// 32 bytes, a salt over 64 bytes); DIPSEA_SHUTDOWN if node `node` is down or does
/// not exist; DIPSEA_BUSY (the node subscribes to its most items already);
/// DIPSEA_NO_ROUTE, DIPSEA_TIMEOUT (no storing node found).
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_subscribe(
    swarm: *const dipsea_swarm,
    node: usize,
    public_key: *const u8,
    public_key_len: usize,
    salt: *const u8,
    salt_len: usize,
    out_asked: *mut usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        // SAFETY: NULL or `public_key_len` readable bytes, by contract.
        let key = unsafe { public_key_arg(public_key, public_key_len) }?;
        // SAFETY: NULL or `salt_len` readable bytes, by contract.
        let salt = unsafe { bytes_arg(salt, salt_len, "salt") }?;
        let out_asked = out(out_asked, "out_asked")?;
        let asked = swarm.lock()?.subscribe_from(node, &key, salt)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_asked, asked.len()) };
        Ok(())
    })
}

/// Node `node` subscribes to the peers of `*info_hash`: a lookup, then a subscribe message
/// to the nodes closest to it (where dipsea_swarm_announce stores), which push each
/// peer announced to them from then on (read with dipsea_swarm_take_peer_updates).
/// Writes how many nodes were asked to `*out_asked`.
///
/// Ownership: `info_hash` is borrowed for the call. Threads: see dipsea_swarm.
/// Statuses: as dipsea_swarm_subscribe.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_subscribe_peers(
    swarm: *const dipsea_swarm,
    node: usize,
    info_hash: *const dipsea_id,
    out_asked: *mut usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        // SAFETY: NULL or a valid id, by contract.
        let info_hash = dipsea::Id::from(*unsafe { arg(info_hash, "info_hash") }?);
        let out_asked = out(out_asked, "out_asked")?;
        let asked = swarm.lock()?.subscribe_peers_from(node, info_hash)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_asked, asked.len()) };
        Ok(())
    })
}

/// Node `node` publishes the `value_len` bytes at `value` as version `seq` of
/// `keypair`'s mutable item with the `salt_len`-byte `salt` (at most 64; NULL when
/// 0): a lookup, then `put` to the storing nodes, which push it to their
/// subscribers. Runs virtual time until that ends and writes how many nodes stored
/// it to `*out_stored`.
///
/// Ownership: every pointer is borrowed for the call. Threads: see dipsea_swarm.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_BAD_INPUT (value over 1000
/// bytes bencoded, salt over 64 bytes); DIPSEA_SEQ_TOO_OLD (the storing nodes hold a
/// newer version); DIPSEA_SHUTDOWN if node `node` is down or does not exist;
/// DIPSEA_NO_ROUTE, DIPSEA_TIMEOUT, DIPSEA_NOT_STORED, DIPSEA_BUSY.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dipsea_swarm_put_mutable(
    swarm: *const dipsea_swarm,
    node: usize,
    keypair: *const dipsea_keypair,
    value: *const u8,
    value_len: usize,
    salt: *const u8,
    salt_len: usize,
    seq: i64,
    out_stored: *mut usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        // SAFETY: NULL or a live keypair, by contract.
        let keypair = unsafe { arg(keypair, "keypair") }?;
        // SAFETY: NULL or `value_len` readable bytes, by contract.
        let value = unsafe { bytes_arg(value, value_len, "value") }?;
        // SAFETY: NULL or `salt_len` readable bytes, by contract.
        let salt = unsafe { bytes_arg(salt, salt_len, "salt") }?;
        let out_stored = out(out_stored, "out_stored")?;
        let stored = swarm
            .lock()?
            .put_mutable_from(node, &keypair.inner, salt, value, seq)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_stored, stored.stored) };
        Ok(())
    })
}

/// Node `node` announces that it serves `*info_hash` on `port` (0: its own UDP port,
/// 6881 at its virtual address 127.x.y.z, x.y.z = `node` + 1), and writes how many
/// nodes stored the announce to `*out_stored`. Subscribers of the info-hash's peers
/// are pushed the peer.
///
/// Ownership: `info_hash` is borrowed for the call. Threads: see dipsea_swarm.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_SHUTDOWN if node `node` is down
/// or does not exist; DIPSEA_NO_ROUTE, DIPSEA_TIMEOUT, DIPSEA_NOT_STORED.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_announce(
    swarm: *const dipsea_swarm,
    node: usize,
    info_hash: *const dipsea_id,
    port: u16,
    out_stored: *mut usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        // SAFETY: NULL or a valid id, by contract.
        let info_hash = dipsea::Id::from(*unsafe { arg(info_hash, "info_hash") }?);
        let out_stored = out(out_stored, "out_stored")?;
        let port = (port != 0).then_some(port);
        let stored = swarm.lock()?.announce_from(node, info_hash, port)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_stored, stored) };
        Ok(())
    })
}

/// Writes the versions subscribers were delivered since the last call, in order of
/// delivery, to `*out_updates` (an empty list when none), and forgets them.
///
/// Ownership: `*out_updates` is yours: release it with
/// dipsea_swarm_update_list_free. Threads: see dipsea_swarm.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_take_updates(
    swarm: *const dipsea_swarm,
    out_updates: *mut dipsea_swarm_update_list,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        let out_updates = out(out_updates, "out_updates")?;
        let updates: Vec<dipsea_swarm_update> = swarm
            .lock()?
            .take_updates()
            .into_iter()
            .map(|Delivery { node, seq, at }| dipsea_swarm_update {
                node,
                seq,
                at_ms: at.as_millis(),
            })
            .collect();
        let (updates, count) = into_raw(updates);
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_updates, dipsea_swarm_update_list { updates, count }) };
        Ok(())
    })
}

/// Writes the peers subscribers were delivered since the last call, in order of
/// delivery, to `*out_updates` (an empty list when none), and forgets them.
///
/// Ownership: `*out_updates` is yours: release it with
/// dipsea_swarm_peer_update_list_free. Threads: see dipsea_swarm.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_take_peer_updates(
    swarm: *const dipsea_swarm,
    out_updates: *mut dipsea_swarm_peer_update_list,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        let out_updates = out(out_updates, "out_updates")?;
        let updates: Vec<dipsea_swarm_peer_update> = swarm
            .lock()?
            .take_peer_updates()
            .into_iter()
            .map(
                |PeerDelivery {
                     node,
                     info_hash,
                     peer,
                     at,
                 }| dipsea_swarm_peer_update {
                    node,
                    info_hash: info_hash.into(),
                    peer: peer.into(),
                    at_ms: at.as_millis(),
                },
            )
            .collect();
        let (updates, count) = into_raw(updates);
        let list = dipsea_swarm_peer_update_list { updates, count };
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_updates, list) };
        Ok(())
    })
}

/// Releases the deliveries of a list dipsea_swarm_take_updates wrote, and resets it
/// to `{NULL, 0}` so a second free is harmless. NULL, or a list whose `updates` is
/// NULL: a no-op.
///
/// Threads: any thread, not at the same time as another use of the list.
/// Statuses: DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_update_list_free(
    list: *mut dipsea_swarm_update_list,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a list the caller owns, by this function's contract.
        if let Some(list) = unsafe { list.as_mut() } {
            // SAFETY: as dipsea_swarm_take_updates wrote it, freed once (contract).
            unsafe { free_slice(&mut list.updates, &mut list.count) };
        }
        Ok(())
    })
}

/// Releases the deliveries of a list dipsea_swarm_take_peer_updates wrote, and
/// resets it to `{NULL, 0}` so a second free is harmless. NULL, or a list whose
/// `updates` is NULL: a no-op.
///
/// Threads: any thread, not at the same time as another use of the list.
/// Statuses: DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_peer_update_list_free(
    list: *mut dipsea_swarm_peer_update_list,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a list the caller owns, by this function's contract.
        if let Some(list) = unsafe { list.as_mut() } {
            // SAFETY: as dipsea_swarm_take_peer_updates wrote it, freed once (contract).
            unsafe { free_slice(&mut list.updates, &mut list.count) };
        }
        Ok(())
    })
}
