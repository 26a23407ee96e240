//! The panic boundary and the checked pointer helpers every exported function uses.

use std::any::Any;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{clear_last_error, dipsea_status, set_last_error, Failure};

/// Runs the body of an exported function: clears the thread's last error, stops any
/// panic, and turns the outcome into a status (recording the message on failure).
pub(crate) fn boundary(body: impl FnOnce() -> Result<(), Failure>) -> dipsea_status {
    clear_last_error();
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => {
            // A callback run by the body (dipsea_node_free) may have set a message.
            clear_last_error();
            return dipsea_status::DIPSEA_OK;
        }
        Ok(Err(failure)) => failure,
        Err(payload) => Failure::new(
            dipsea_status::DIPSEA_PANIC,
            format!("panic in dipsea: {}", panic_message(payload.as_ref())),
        ),
    };
    set_last_error(&failure.message);
    failure.status
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// Borrows `*ptr`, or fails with DIPSEA_NULL_ARGUMENT naming the argument.
///
/// # Safety
/// `ptr` is NULL or points to a valid `T` that outlives `'a` and is not mutated
/// meanwhile (the contract every exported function states for its pointers).
pub(crate) unsafe fn arg<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller's contract; NULL is checked here.
    unsafe { ptr.as_ref() }.ok_or_else(|| Failure::null(name))
}

/// Borrows `*ptr` mutably, or fails with DIPSEA_NULL_ARGUMENT.
///
/// # Safety
/// As [`arg`], and nothing else accesses `*ptr` meanwhile.
pub(crate) unsafe fn arg_mut<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller's contract; NULL is checked here.
    unsafe { ptr.as_mut() }.ok_or_else(|| Failure::null(name))
}

/// Checks that an out-pointer is not NULL; write it with [`write_out`] on success.
pub(crate) fn out<T>(ptr: *mut T, name: &str) -> Result<*mut T, Failure> {
    if ptr.is_null() {
        Err(Failure::null(name))
    } else {
        Ok(ptr)
    }
}

/// Writes a result through a checked out-pointer (without reading or dropping what
/// was there: C memory may be uninitialised).
///
/// # Safety
/// `ptr` came from [`out`] and points to writable memory for a `T`.
pub(crate) unsafe fn write_out<T>(ptr: *mut T, value: T) {
    // SAFETY: non-NULL (checked by `out`), writable by the caller's contract.
    unsafe { ptr.write(value) }
}

/// Borrows a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string valid for `'a`.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(Failure::null(name));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str()
        .map_err(|e| Failure::invalid(format!("argument `{name}` is not UTF-8: {e}")))
}

/// Borrows `len` bytes at `ptr`; `ptr` may be NULL only when `len` is 0.
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes valid for `'a`.
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], Failure> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(Failure::null(name));
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid(format!("argument `{name}` is too long")));
    }
    // SAFETY: non-NULL, `len` readable bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Copies `text` and a terminating NUL into the caller's `buf` of `len` bytes.
///
/// # Safety
/// `buf` is non-NULL (checked by [`out`]) and points to `len` writable bytes.
pub(crate) unsafe fn write_c_string(
    buf: *mut c_char,
    len: usize,
    text: &str,
) -> Result<(), Failure> {
    let needed = text.len() + 1;
    if len < needed {
        return Err(Failure::new(
            dipsea_status::DIPSEA_BUFFER_TOO_SMALL,
            format!("the buffer holds {len} bytes, {needed} are needed"),
        ));
    }
    // SAFETY: `buf` has `len >= needed` writable bytes; the source is a distinct Rust
    // string.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
        buf.add(text.len()).write(0);
    }
    Ok(())
}

/// Fails with DIPSEA_WRONG_THREAD when called on a tokio runtime thread, where
/// blocking on a runtime would panic (inside a callback).
pub(crate) fn not_on_runtime() -> Result<(), Failure> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Failure::new(
            dipsea_status::DIPSEA_WRONG_THREAD,
            "a blocking dipsea function was called on a dipsea runtime thread (inside a \
             callback); use the _async variant or call it from another thread",
        ));
    }
    Ok(())
}
