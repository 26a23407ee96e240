//! `dipsea_buffer`: bytes the library allocates for the caller.

use crate::error::dipsea_status;
use crate::ffi::boundary;

/// Bytes the library allocated for you (a value, a list of peers).
///
/// Ownership: yours once a function writes it; release it with dipsea_buffer_free,
/// exactly once, and do not change `data` or `len` before that. A buffer written by
/// the library always has `data[len] == 0` (one byte past the end, not counted in
/// `len`), so text can be used as a C string directly. A buffer with `data == NULL`
/// is empty and needs no freeing.
#[repr(C)]
#[derive(Debug)]
pub struct dipsea_buffer {
    /// The bytes; NULL only for an empty buffer that was never filled.
    pub data: *mut u8,
    /// How many bytes `data` holds, not counting the terminating 0.
    pub len: usize,
}

impl dipsea_buffer {
    /// Moves `bytes` into a library allocation with a trailing NUL.
    pub(crate) fn from_vec(mut bytes: Vec<u8>) -> dipsea_buffer {
        let len = bytes.len();
        bytes.push(0);
        let data = Box::into_raw(bytes.into_boxed_slice()).cast::<u8>();
        dipsea_buffer { data, len }
    }

    /// Borrows a Rust slice as a buffer, for callbacks: valid while `bytes` lives.
    /// Callers must not free it; `bytes` must end with the NUL that is not counted.
    pub(crate) fn borrowed(bytes_with_nul: &[u8]) -> dipsea_buffer {
        dipsea_buffer {
            data: bytes_with_nul.as_ptr().cast_mut(),
            len: bytes_with_nul.len().saturating_sub(1),
        }
    }
}

/// Releases the memory of a buffer the library filled, and resets it to
/// `{NULL, 0}` so a second free is harmless.
///
/// `buffer` NULL, or a buffer whose `data` is NULL: a no-op returning DIPSEA_OK.
/// Threads: any thread, but not at the same time as another use of the same buffer.
/// Statuses: DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_buffer_free(buffer: *mut dipsea_buffer) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a buffer the caller owns, by this function's contract.
        let Some(buffer) = (unsafe { buffer.as_mut() }) else {
            return Ok(());
        };
        if buffer.data.is_null() {
            buffer.len = 0;
            return Ok(());
        }
        let whole = std::ptr::slice_from_raw_parts_mut(buffer.data, buffer.len + 1);
        // SAFETY: `data` and `len` are as `from_vec` made them (`len + 1` bytes boxed),
        // by this type's contract, and the caller frees it once.
        drop(unsafe { Box::from_raw(whole) });
        buffer.data = std::ptr::null_mut();
        buffer.len = 0;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_terminated_and_free_resets_them() {
        let mut buffer = dipsea_buffer::from_vec(b"abc".to_vec());
        assert_eq!(buffer.len, 3);
        // SAFETY: `from_vec` allocated len + 1 bytes.
        assert_eq!(unsafe { *buffer.data.add(3) }, 0);
        // SAFETY: a buffer the library filled, freed twice (the second is a no-op).
        unsafe {
            assert_eq!(dipsea_buffer_free(&mut buffer), dipsea_status::DIPSEA_OK);
            assert!(buffer.data.is_null());
            assert_eq!(dipsea_buffer_free(&mut buffer), dipsea_status::DIPSEA_OK);
            assert_eq!(
                dipsea_buffer_free(std::ptr::null_mut()),
                dipsea_status::DIPSEA_OK
            );
        }
    }
}
