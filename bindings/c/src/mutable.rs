//! BEP 44 mutable items on a node: dipsea_node_put_mutable, dipsea_node_get_mutable
//! and their `_async` variants.

use std::ffi::c_void;

use dipsea::keypair::PUBLIC_KEY_LEN;
use dipsea::{MutablePut, MutableValue};

use crate::buffer::dipsea_buffer;
use crate::error::{dipsea_status, Failure};
use crate::ffi::{arg, boundary, bytes_arg, not_on_runtime, out, write_out};
use crate::keypair::dipsea_keypair;
use crate::node::{callback_arg, dipsea_node, node_arg, spawn_op, Completion};

/// Bytes in a mutable item's signature.
pub const DIPSEA_SIGNATURE_LEN: usize = 64;

/// A verified version of a mutable item, written by dipsea_node_get_mutable.
///
/// Ownership: `value` is yours once written: release it with
/// dipsea_mutable_item_free (or dipsea_buffer_free on `value`).
#[repr(C)]
#[derive(Debug)]
pub struct dipsea_mutable_item {
    /// The value: the byte string the item holds (its bencoding if it holds another
    /// bencoded type); `value.data[value.len]` is 0.
    pub value: dipsea_buffer,
    /// The sequence number: a newer version has a higher one.
    pub seq: i64,
    /// The ed25519 signature over salt, seq and value, checked.
    pub signature: [u8; DIPSEA_SIGNATURE_LEN],
}

impl dipsea_mutable_item {
    pub(crate) fn from_value(item: MutableValue) -> dipsea_mutable_item {
        dipsea_mutable_item {
            value: dipsea_buffer::from_vec(item.value),
            seq: item.seq,
            signature: item.signature,
        }
    }
}

/// Called once when dipsea_node_put_mutable_async finishes: `seq` is the sequence
/// number stored (0 on failure).
pub type dipsea_put_mutable_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, status: dipsea_status, seq: i64)>;

/// Called once when dipsea_node_get_mutable_async finishes: `item` (DIPSEA_OK only,
/// else NULL) is borrowed for the call; copy what you keep, do not free it.
pub type dipsea_get_mutable_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        status: dipsea_status,
        item: *const dipsea_mutable_item,
    ),
>;

/// Reads an optional `int64_t` argument (NULL: none).
///
/// # Safety
/// `ptr` is NULL or points to a readable `int64_t`.
unsafe fn opt_i64(ptr: *const i64) -> Option<i64> {
    // SAFETY: the caller's contract.
    unsafe { ptr.as_ref() }.copied()
}

/// Reads a public key argument: exactly DIPSEA_PUBLIC_KEY_LEN bytes.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes.
pub(crate) unsafe fn public_key_arg(
    ptr: *const u8,
    len: usize,
) -> Result<[u8; PUBLIC_KEY_LEN], Failure> {
    // SAFETY: the caller's contract.
    let key = unsafe { bytes_arg(ptr, len, "public_key") }?;
    if key.is_empty() && ptr.is_null() {
        return Err(Failure::null("public_key"));
    }
    <[u8; PUBLIC_KEY_LEN]>::try_from(key)
        .map_err(|_| Failure::invalid(format!("a public key is {PUBLIC_KEY_LEN} bytes, got {len}")))
}

fn not_found(public_key: &[u8; PUBLIC_KEY_LEN]) -> Failure {
    Failure::new(
        dipsea_status::DIPSEA_NOT_FOUND,
        format!(
            "no node holds a mutable item of {}",
            dipsea::keypair::to_hex(public_key)
        ),
    )
}

/// Publishes `value_len` bytes at `value` as the BEP 44 mutable item of `keypair`
/// with the `salt_len`-byte `salt` (at most 64; NULL when `salt_len` is 0), on the k
/// nodes closest to SHA-1(public key + salt); waits for them to acknowledge and
/// writes the sequence number stored to `*out_seq`. The node re-publishes that
/// version until dipsea_node_free.
///
/// `seq`: NULL for one more than the highest sequence number on the network (1 if
/// none), else the one to store. `cas`: NULL, or store only where the current
/// sequence number is `*cas` (compare-and-swap).
///
/// Ownership: every pointer is borrowed for the call. Threads: any thread except a
/// dipsea runtime thread; blocks.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_BAD_INPUT (value over
/// 1000 bytes bencoded, salt over 64 bytes); DIPSEA_CAS_MISMATCH (nodes answered
/// 301); DIPSEA_SEQ_TOO_OLD (nodes hold a newer version, 302); DIPSEA_NO_ROUTE,
/// DIPSEA_TIMEOUT, DIPSEA_NOT_STORED, DIPSEA_BUSY, DIPSEA_SHUTDOWN;
/// DIPSEA_WRONG_THREAD inside a callback.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dipsea_node_put_mutable(
    node: *const dipsea_node,
    keypair: *const dipsea_keypair,
    value: *const u8,
    value_len: usize,
    salt: *const u8,
    salt_len: usize,
    seq: *const i64,
    cas: *const i64,
    out_seq: *mut i64,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: NULL or a live keypair, by contract.
        let keypair = unsafe { arg(keypair, "keypair") }?;
        // SAFETY: NULL or `value_len` readable bytes, by contract.
        let value = unsafe { bytes_arg(value, value_len, "value") }?;
        // SAFETY: NULL or `salt_len` readable bytes, by contract.
        let salt = unsafe { bytes_arg(salt, salt_len, "salt") }?.to_vec();
        // SAFETY: NULL or readable, by contract.
        let (seq, cas) = unsafe { (opt_i64(seq), opt_i64(cas)) };
        let out_seq = out(out_seq, "out_seq")?;
        not_on_runtime()?;
        let options = MutablePut { salt, seq, cas };
        let stored = node.inner.put_mutable(&keypair.inner, value, options)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_seq, stored.seq) };
        Ok(())
    })
}

/// Looks up the mutable item of the `public_key_len`-byte `public_key`
/// (DIPSEA_PUBLIC_KEY_LEN) with the `salt_len`-byte `salt`, keeps the newest version
/// whose signature checks out (at least `*min_seq` unless `min_seq` is NULL), and
/// writes it to `*out_item`.
///
/// Ownership: pointers are borrowed for the call; `*out_item` is yours on
/// DIPSEA_OK: release it with dipsea_mutable_item_free.
/// Threads: any thread except a dipsea runtime thread; blocks.
/// Statuses: DIPSEA_OK; DIPSEA_NOT_FOUND if no node has a version (`*out_item`
/// untouched); DIPSEA_NULL_ARGUMENT; DIPSEA_BAD_INPUT if the key is not 32
/// bytes; DIPSEA_NO_ROUTE, DIPSEA_TIMEOUT, DIPSEA_BUSY, DIPSEA_SHUTDOWN;
/// DIPSEA_WRONG_THREAD inside a callback.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_get_mutable(
    node: *const dipsea_node,
    public_key: *const u8,
    public_key_len: usize,
    salt: *const u8,
    salt_len: usize,
    min_seq: *const i64,
    out_item: *mut dipsea_mutable_item,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: NULL or `public_key_len` readable bytes, by contract.
        let key = unsafe { public_key_arg(public_key, public_key_len) }?;
        // SAFETY: NULL or `salt_len` readable bytes, by contract.
        let salt = unsafe { bytes_arg(salt, salt_len, "salt") }?;
        // SAFETY: NULL or readable, by contract.
        let min_seq = unsafe { opt_i64(min_seq) };
        let out_item = out(out_item, "out_item")?;
        not_on_runtime()?;
        let item = node
            .inner
            .get_mutable(&key, salt, min_seq)?
            .ok_or_else(|| not_found(&key))?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_item, dipsea_mutable_item::from_value(item)) };
        Ok(())
    })
}

/// Releases the value of an item dipsea_node_get_mutable wrote, and resets it so a
/// second free is harmless. NULL: a no-op.
///
/// Threads: any thread, not at the same time as another use of the item.
/// Statuses: DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_mutable_item_free(item: *mut dipsea_mutable_item) -> dipsea_status {
    // SAFETY: NULL or an item the caller owns, by this function's contract.
    let Some(item) = (unsafe { item.as_mut() }) else {
        return dipsea_status::DIPSEA_OK;
    };
    // SAFETY: the item's buffer, as dipsea_node_get_mutable wrote it.
    unsafe { crate::buffer::dipsea_buffer_free(&mut item.value) }
}

/// dipsea_node_put_mutable without blocking: copies the arguments, and calls
/// `callback(user_data, status, seq)` once when done.
///
/// Ownership: every pointer is copied before this returns; `user_data` as in
/// dipsea_node_bootstrap_async. Threads and callback rules: as
/// dipsea_node_bootstrap_async.
/// Statuses (returned): DIPSEA_OK (the callback will run); DIPSEA_NULL_ARGUMENT if
/// `node`, `keypair` or `callback` is NULL, or a buffer is NULL with a non-zero
/// length (the callback will not run). Statuses (to the callback): as
/// dipsea_node_put_mutable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn dipsea_node_put_mutable_async(
    node: *const dipsea_node,
    keypair: *const dipsea_keypair,
    value: *const u8,
    value_len: usize,
    salt: *const u8,
    salt_len: usize,
    seq: *const i64,
    cas: *const i64,
    callback: dipsea_put_mutable_callback,
    user_data: *mut c_void,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: NULL or a live keypair, by contract.
        let keypair = unsafe { arg(keypair, "keypair") }?.inner.clone();
        // SAFETY: NULL or `value_len` readable bytes, by contract.
        let value = unsafe { bytes_arg(value, value_len, "value") }?.to_vec();
        // SAFETY: NULL or `salt_len` readable bytes, by contract.
        let salt = unsafe { bytes_arg(salt, salt_len, "salt") }?.to_vec();
        // SAFETY: NULL or readable, by contract.
        let (seq, cas) = unsafe { (opt_i64(seq), opt_i64(cas)) };
        let callback = callback_arg(callback)?;
        let completion = Completion::new(user_data, move |ud, status, seq: Option<&i64>| {
            // SAFETY: the caller's callback, called once as documented.
            unsafe { callback(ud, status, seq.copied().unwrap_or(0)) }
        });
        let handle = node.inner.handle().clone();
        spawn_op(node, completion, async move {
            let options = MutablePut { salt, seq, cas };
            Ok(handle.put_mutable(&keypair, &value, options).await?.seq)
        });
        Ok(())
    })
}

/// dipsea_node_get_mutable without blocking: calls `callback(user_data, status,
/// item)` once when the lookup ends; `item` (DIPSEA_OK only) is borrowed for the call.
///
/// Ownership: the arguments are copied before this returns; `user_data` as in
/// dipsea_node_bootstrap_async. Threads and callback rules: as
/// dipsea_node_bootstrap_async.
/// Statuses (returned): DIPSEA_OK (the callback will run); DIPSEA_NULL_ARGUMENT;
/// DIPSEA_BAD_INPUT if the key is not 32 bytes (the callback will not run).
/// Statuses (to the callback): as dipsea_node_get_mutable, DIPSEA_NOT_FOUND included.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_get_mutable_async(
    node: *const dipsea_node,
    public_key: *const u8,
    public_key_len: usize,
    salt: *const u8,
    salt_len: usize,
    min_seq: *const i64,
    callback: dipsea_get_mutable_callback,
    user_data: *mut c_void,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: NULL or `public_key_len` readable bytes, by contract.
        let key = unsafe { public_key_arg(public_key, public_key_len) }?;
        // SAFETY: NULL or `salt_len` readable bytes, by contract.
        let salt = unsafe { bytes_arg(salt, salt_len, "salt") }?.to_vec();
        // SAFETY: NULL or readable, by contract.
        let min_seq = unsafe { opt_i64(min_seq) };
        let callback = callback_arg(callback)?;
        let completion =
            Completion::new(user_data, move |ud, status, item: Option<&MutableValue>| {
                let mut owned = item.cloned().map(dipsea_mutable_item::from_value);
                let ptr = owned.as_ref().map_or(std::ptr::null(), |i| i as *const _);
                // SAFETY: the caller's callback, called once; `ptr` outlives the call.
                unsafe { callback(ud, status, ptr) };
                if let Some(item) = owned.as_mut() {
                    // SAFETY: the buffer from_value allocated, freed once here.
                    unsafe { crate::buffer::dipsea_buffer_free(&mut item.value) };
                }
            });
        let handle = node.inner.handle().clone();
        spawn_op(node, completion, async move {
            handle
                .get_mutable(&key, &salt, min_seq)
                .await?
                .ok_or_else(|| not_found(&key))
        });
        Ok(())
    })
}
