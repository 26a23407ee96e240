//! `dipsea_id`: 160-bit node ids, keys and info-hashes, by value.

use std::ffi::c_char;

use dipsea::Id;

use crate::error::dipsea_status;
use crate::ffi::{arg, boundary, bytes_arg, out, str_arg, write_c_string, write_out};

/// Bytes in a dipsea_id (160 bits, the size of a SHA-1 digest).
pub const DIPSEA_ID_LEN: usize = 20;

/// Bytes dipsea_id_to_hex needs: 40 hex digits and the terminating NUL.
pub const DIPSEA_ID_HEX_SIZE: usize = 41;

/// A 160-bit identifier: a node id, the key of an item, an info-hash. A plain value:
/// copy it freely, nothing to free. Big-endian bytes, compared as such by the DHT's
/// XOR metric.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct dipsea_id {
    /// The id's bytes, most significant first.
    pub bytes: [u8; DIPSEA_ID_LEN],
}

impl From<Id> for dipsea_id {
    fn from(id: Id) -> dipsea_id {
        dipsea_id {
            bytes: *id.as_bytes(),
        }
    }
}

impl From<dipsea_id> for Id {
    fn from(id: dipsea_id) -> Id {
        Id::from_bytes(id.bytes)
    }
}

/// Parses 40 hex digits (either case, NUL-terminated) into `*out_id`.
///
/// Ownership: `hex` is borrowed for the call. Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `hex` or `out_id` is NULL;
/// DIPSEA_BAD_INPUT if `hex` is not exactly 40 hex digits (the message says
/// where). `*out_id` is written only on DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_id_from_hex(
    hex: *const c_char,
    out_id: *mut dipsea_id,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a NUL-terminated string, by this function's contract.
        let hex = unsafe { str_arg(hex, "hex") }?;
        let out_id = out(out_id, "out_id")?;
        let id: Id = hex.parse()?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_id, id.into()) };
        Ok(())
    })
}

/// Writes `*id` as 40 lowercase hex digits and a NUL into `out_hex`, a buffer of
/// `out_hex_len` bytes (at least DIPSEA_ID_HEX_SIZE).
///
/// Ownership: `out_hex` is yours; nothing is allocated. Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `id` or `out_hex` is NULL;
/// DIPSEA_BUFFER_TOO_SMALL if `out_hex_len < DIPSEA_ID_HEX_SIZE` (nothing written).
#[no_mangle]
pub unsafe extern "C" fn dipsea_id_to_hex(
    id: *const dipsea_id,
    out_hex: *mut c_char,
    out_hex_len: usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a valid dipsea_id, by this function's contract.
        let id = Id::from(*unsafe { arg(id, "id") }?);
        let out_hex = out(out_hex, "out_hex")?;
        // SAFETY: non-NULL, `out_hex_len` writable bytes by contract.
        unsafe { write_c_string(out_hex, out_hex_len, &id.to_string()) }
    })
}

/// The SHA-1 digest of `len` bytes at `data`, as an id (`data` may be NULL when
/// `len` is 0). The key of an immutable item is the SHA-1 of its bencoding
/// (`<len>:<value>`), which dipsea_node_put computes for you.
///
/// Ownership: `data` is borrowed for the call. Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT if `out_id` is NULL, or `data` is NULL
/// with `len > 0`.
#[no_mangle]
pub unsafe extern "C" fn dipsea_id_sha1(
    data: *const u8,
    len: usize,
    out_id: *mut dipsea_id,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or `len` readable bytes, by this function's contract.
        let data = unsafe { bytes_arg(data, len, "data") }?;
        let out_id = out(out_id, "out_id")?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_id, Id::sha1(data).into()) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::dipsea_status::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let hex = c"00112233445566778899aabbccddeeff00112233";
        let mut id = dipsea_id::default();
        let mut text = [0 as c_char; DIPSEA_ID_HEX_SIZE];
        // SAFETY: valid pointers and sizes.
        unsafe {
            assert_eq!(dipsea_id_from_hex(hex.as_ptr(), &mut id), DIPSEA_OK);
            assert_eq!(id.bytes[1], 0x11);
            assert_eq!(
                dipsea_id_to_hex(&id, text.as_mut_ptr(), text.len()),
                DIPSEA_OK
            );
            assert_eq!(std::ffi::CStr::from_ptr(text.as_ptr()), hex);
            assert_eq!(
                dipsea_id_to_hex(&id, text.as_mut_ptr(), 40),
                DIPSEA_BUFFER_TOO_SMALL
            );
            assert_eq!(
                dipsea_id_from_hex(c"xyz".as_ptr(), &mut id),
                DIPSEA_BAD_INPUT
            );
            assert_eq!(
                dipsea_id_from_hex(std::ptr::null(), &mut id),
                DIPSEA_NULL_ARGUMENT
            );
            assert_eq!(dipsea_id_sha1(std::ptr::null(), 0, &mut id), DIPSEA_OK);
            assert_eq!(Id::from(id), Id::sha1(b""));
        }
    }
}
