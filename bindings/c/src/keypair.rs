//! `dipsea_keypair`: the ed25519 key that signs BEP 44 mutable items.

use std::ffi::c_char;

use dipsea::keypair::{Keypair, PUBLIC_KEY_LEN, SEED_LEN};

use crate::error::{dipsea_status, Failure};
use crate::ffi::{arg, boundary, bytes_arg, out, str_arg, write_out};

/// Bytes in a keypair's secret seed.
pub const DIPSEA_SEED_LEN: usize = 32;

/// Bytes in a public key (`k` in BEP 44).
pub const DIPSEA_PUBLIC_KEY_LEN: usize = 32;

/// An ed25519 keypair (opaque): who may publish and update a mutable item. Its
/// secret is a 32-byte seed. Make one with dipsea_keypair_random,
/// dipsea_keypair_from_seed or dipsea_keypair_load; free it with dipsea_keypair_free.
pub struct dipsea_keypair {
    pub(crate) inner: Keypair,
}

/// Hands a new keypair to C through `out_keypair`.
fn give(out_keypair: *mut *mut dipsea_keypair, inner: Keypair) {
    let keypair = Box::into_raw(Box::new(dipsea_keypair { inner }));
    // SAFETY: the callers checked `out_keypair` with `out`; writable by contract.
    unsafe { write_out(out_keypair, keypair) };
}

/// Makes a new random keypair (from the operating system's random source).
///
/// Ownership: `*out_keypair` is yours; free it with dipsea_keypair_free.
/// Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `out_keypair` is NULL.
#[no_mangle]
pub unsafe extern "C" fn dipsea_keypair_random(
    out_keypair: *mut *mut dipsea_keypair,
) -> dipsea_status {
    boundary(|| {
        let out_keypair = out(out_keypair, "out_keypair")?;
        give(out_keypair, Keypair::random());
        Ok(())
    })
}

/// Makes the keypair whose secret is the `seed_len` bytes at `seed` (exactly
/// DIPSEA_SEED_LEN): the same seed always gives the same keys.
///
/// Ownership: `seed` is borrowed for the call; `*out_keypair` is yours, free it with
/// dipsea_keypair_free. Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `seed` or `out_keypair` is NULL;
/// DIPSEA_BAD_INPUT if `seed_len` is not DIPSEA_SEED_LEN.
#[no_mangle]
pub unsafe extern "C" fn dipsea_keypair_from_seed(
    seed: *const u8,
    seed_len: usize,
    out_keypair: *mut *mut dipsea_keypair,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or `seed_len` readable bytes, by this function's contract.
        let seed = unsafe { bytes_arg(seed, seed_len, "seed") }?;
        let out_keypair = out(out_keypair, "out_keypair")?;
        let seed = <&[u8; SEED_LEN]>::try_from(seed)
            .map_err(|_| Failure::invalid(format!("a seed is {SEED_LEN} bytes, got {seed_len}")))?;
        give(out_keypair, Keypair::from_seed(seed));
        Ok(())
    })
}

/// Reads a keypair from the file at `path` (written by dipsea_keypair_save or
/// `dipsea keygen`).
///
/// Ownership: `path` is borrowed; `*out_keypair` is yours, free it with
/// dipsea_keypair_free. Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `path` or `out_keypair` is NULL;
/// DIPSEA_IO if the file cannot be read; DIPSEA_BAD_INPUT if it holds no key.
#[no_mangle]
pub unsafe extern "C" fn dipsea_keypair_load(
    path: *const c_char,
    out_keypair: *mut *mut dipsea_keypair,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a NUL-terminated string, by this function's contract.
        let path = unsafe { str_arg(path, "path") }?;
        let out_keypair = out(out_keypair, "out_keypair")?;
        give(out_keypair, Keypair::load(path)?);
        Ok(())
    })
}

/// Writes the keypair's secret to a new file at `path`, readable by its owner only
/// (mode 0600). An existing file is never replaced: that fails with DIPSEA_IO.
///
/// Ownership: both arguments are borrowed for the call. Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if an argument is NULL; DIPSEA_IO if the
/// file exists or cannot be written.
#[no_mangle]
pub unsafe extern "C" fn dipsea_keypair_save(
    keypair: *const dipsea_keypair,
    path: *const c_char,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a live keypair, by this function's contract.
        let keypair = unsafe { arg(keypair, "keypair") }?;
        // SAFETY: NULL or a NUL-terminated string, by this function's contract.
        let path = unsafe { str_arg(path, "path") }?;
        keypair.inner.save(path)?;
        Ok(())
    })
}

/// Copies the public key (DIPSEA_PUBLIC_KEY_LEN bytes) into `out_key`, a buffer of
/// `out_key_len` bytes: what others pass to dipsea_node_get_mutable.
///
/// Ownership: `out_key` is yours; nothing is allocated. Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if an argument is NULL;
/// DIPSEA_BUFFER_TOO_SMALL if `out_key_len < DIPSEA_PUBLIC_KEY_LEN` (nothing written).
#[no_mangle]
pub unsafe extern "C" fn dipsea_keypair_public_key(
    keypair: *const dipsea_keypair,
    out_key: *mut u8,
    out_key_len: usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a live keypair, by this function's contract.
        let keypair = unsafe { arg(keypair, "keypair") }?;
        let out_key = out(out_key, "out_key")?;
        if out_key_len < PUBLIC_KEY_LEN {
            return Err(Failure::new(
                dipsea_status::DIPSEA_BUFFER_TOO_SMALL,
                format!("the buffer holds {out_key_len} bytes, {PUBLIC_KEY_LEN} are needed"),
            ));
        }
        let key = keypair.inner.public_key();
        // SAFETY: `out_key` has at least PUBLIC_KEY_LEN writable bytes (checked above,
        // by contract); the source is a distinct local array.
        unsafe { std::ptr::copy_nonoverlapping(key.as_ptr(), out_key, PUBLIC_KEY_LEN) };
        Ok(())
    })
}

/// Frees a keypair. NULL: a no-op.
///
/// Ownership: `keypair` is invalid afterwards. Threads: any thread, once no other
/// thread uses it. Statuses: DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_keypair_free(keypair: *mut dipsea_keypair) -> dipsea_status {
    boundary(|| {
        if !keypair.is_null() {
            // SAFETY: non-NULL, made by this library, freed once (contract).
            drop(unsafe { Box::from_raw(keypair) });
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_sizes_are_the_cores() {
        // cbindgen writes the literals of the constants; the core's sizes must agree.
        assert_eq!(DIPSEA_SEED_LEN, SEED_LEN);
        assert_eq!(DIPSEA_PUBLIC_KEY_LEN, PUBLIC_KEY_LEN);
    }
}
