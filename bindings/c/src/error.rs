//! Status codes, the one mapping from the core's errors to them, and the thread-local
//! message behind `dipsea_last_error`.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

use dipsea::{Error, IdError, OpError};

/// What a dipsea function reports. `DIPSEA_OK` (0) is success; every other code is a
/// failure, with a detailed message from dipsea_last_error() on the same thread.
///
/// Codes come in blocks and are never reused or renumbered: 1xx the caller's arguments
/// or calling context, 2xx outcomes of network operations, 3xx the operating system,
/// 9xx bugs in dipsea. New codes may be added to any block, so a `switch` should keep a
/// `default:` case. A code that stands for a core error carries its name, as Python's
/// exception classes do: `OpError::NotStored` is DIPSEA_NOT_STORED and
/// `dipsea.NotStored` (DIPSEA_BAD_INPUT was called DIPSEA_INVALID_ARGUMENT before
/// 0.2, with the same number).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum dipsea_status {
    /// Success: the out-pointers hold the results.
    DIPSEA_OK = 0,
    /// A required pointer argument was NULL. Pass a valid pointer.
    DIPSEA_NULL_ARGUMENT = 100,
    /// An argument is invalid: bad hex, a string that is not UTF-8, an address that
    /// does not resolve, a value too large for an item (BEP 44: 1000 bytes bencoded),
    /// a setting out of range (k = 0, a loss outside 0..1). Fix the argument;
    /// dipsea_last_error() says which and why.
    DIPSEA_BAD_INPUT = 101,
    /// The caller's output buffer is too small; see the function for the size needed.
    DIPSEA_BUFFER_TOO_SMALL = 102,
    /// A blocking function was called from a thread of a dipsea runtime (inside a
    /// callback). Use the `_async` variant, or call from a thread of your own.
    DIPSEA_WRONG_THREAD = 103,
    /// The lookup finished and no node holds the key (dipsea_node_get,
    /// dipsea_swarm_get). Not an error of the network: the item is absent.
    DIPSEA_NOT_FOUND = 200,
    /// The routing table is empty and no bootstrap address is known: configure a
    /// bootstrap address, or wait for the node to re-bootstrap.
    DIPSEA_NO_ROUTE = 201,
    /// No node answered in time (a dead bootstrap address, the network is down).
    /// Check the addresses and the network, then retry.
    DIPSEA_TIMEOUT = 202,
    /// Nodes answered, but none accepted the put or announce.
    DIPSEA_NOT_STORED = 203,
    /// The node is at a limit: too many operations running (option `max_operations`)
    /// or too many queries awaiting an answer (`max_in_flight`); retry when some
    /// finish.
    DIPSEA_BUSY = 204,
    /// The node is shutting down (or was freed while the operation ran).
    DIPSEA_SHUTDOWN = 205,
    /// A mutable put was refused: the nodes' sequence number is not the `cas` given
    /// (BEP 44 error 301). Get the item and retry with its sequence number as `cas`.
    DIPSEA_CAS_MISMATCH = 206,
    /// A mutable put was refused: the nodes hold a newer version (BEP 44 error 302).
    /// Get the item and put with a higher sequence number (or let dipsea pick one).
    DIPSEA_SEQ_TOO_OLD = 207,
    /// The operating system refused something: binding the socket, a state file.
    /// Check the address or path and permissions.
    DIPSEA_IO = 300,
    /// A bug in dipsea; please report it with dipsea_last_error().
    DIPSEA_INTERNAL = 900,
    /// A bug in dipsea: Rust code panicked, and the panic was stopped at the boundary.
    /// The handle may be unusable; please report it with dipsea_last_error().
    DIPSEA_PANIC = 901,
}

use dipsea_status::*;

impl dipsea_status {
    /// Every code, for lookups by number.
    fn all() -> [dipsea_status; 16] {
        [
            DIPSEA_OK,
            DIPSEA_NULL_ARGUMENT,
            DIPSEA_BAD_INPUT,
            DIPSEA_BUFFER_TOO_SMALL,
            DIPSEA_WRONG_THREAD,
            DIPSEA_NOT_FOUND,
            DIPSEA_NO_ROUTE,
            DIPSEA_TIMEOUT,
            DIPSEA_NOT_STORED,
            DIPSEA_BUSY,
            DIPSEA_SHUTDOWN,
            DIPSEA_CAS_MISMATCH,
            DIPSEA_SEQ_TOO_OLD,
            DIPSEA_IO,
            DIPSEA_INTERNAL,
            DIPSEA_PANIC,
        ]
    }

    /// The NUL-terminated name and short description of the code.
    fn text(self) -> &'static str {
        match self {
            DIPSEA_OK => "DIPSEA_OK: success\0",
            DIPSEA_NULL_ARGUMENT => "DIPSEA_NULL_ARGUMENT: a required pointer is NULL\0",
            DIPSEA_BAD_INPUT => "DIPSEA_BAD_INPUT: an argument is invalid\0",
            DIPSEA_BUFFER_TOO_SMALL => "DIPSEA_BUFFER_TOO_SMALL: the output buffer is too small\0",
            DIPSEA_WRONG_THREAD => {
                "DIPSEA_WRONG_THREAD: a blocking call on a dipsea runtime thread\0"
            }
            DIPSEA_NOT_FOUND => "DIPSEA_NOT_FOUND: no node holds the key\0",
            DIPSEA_NO_ROUTE => "DIPSEA_NO_ROUTE: the routing table is empty\0",
            DIPSEA_TIMEOUT => "DIPSEA_TIMEOUT: no node answered in time\0",
            DIPSEA_NOT_STORED => "DIPSEA_NOT_STORED: no node accepted the store\0",
            DIPSEA_BUSY => "DIPSEA_BUSY: the node is at its operation or query limit\0",
            DIPSEA_SHUTDOWN => "DIPSEA_SHUTDOWN: the node is shut down\0",
            DIPSEA_CAS_MISMATCH => "DIPSEA_CAS_MISMATCH: the stored sequence number is not cas\0",
            DIPSEA_SEQ_TOO_OLD => "DIPSEA_SEQ_TOO_OLD: the nodes hold a newer version\0",
            DIPSEA_IO => "DIPSEA_IO: the operating system refused\0",
            DIPSEA_INTERNAL => "DIPSEA_INTERNAL: a bug in dipsea\0",
            DIPSEA_PANIC => "DIPSEA_PANIC: a bug in dipsea (panic stopped at the boundary)\0",
        }
    }
}

/// The one mapping from the core's errors to status codes. Exhaustive on purpose: a
/// new variant of `Error` or `OpError` does not compile until it is mapped here.
pub(crate) fn status_of(err: &Error) -> dipsea_status {
    match err {
        Error::Op(op) => match op {
            OpError::NoRoute => DIPSEA_NO_ROUTE,
            OpError::Timeout => DIPSEA_TIMEOUT,
            OpError::NotStored { .. } => DIPSEA_NOT_STORED,
            OpError::BadInput(_) => DIPSEA_BAD_INPUT,
            OpError::Busy { .. } => DIPSEA_BUSY,
            OpError::Shutdown => DIPSEA_SHUTDOWN,
            OpError::CasMismatch => DIPSEA_CAS_MISMATCH,
            OpError::SeqTooOld => DIPSEA_SEQ_TOO_OLD,
        },
        Error::Io(_) => DIPSEA_IO,
        Error::BadInput(_) => DIPSEA_BAD_INPUT,
        Error::Internal(_) => DIPSEA_INTERNAL,
    }
}

/// A failed call: its status and the message for dipsea_last_error().
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: dipsea_status,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(status: dipsea_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn null(name: &str) -> Failure {
        Failure::new(DIPSEA_NULL_ARGUMENT, format!("argument `{name}` is NULL"))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(DIPSEA_BAD_INPUT, message)
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        Failure::new(status_of(&err), err.to_string())
    }
}

impl From<OpError> for Failure {
    fn from(err: OpError) -> Failure {
        Failure::from(Error::Op(err))
    }
}

impl From<IdError> for Failure {
    fn from(err: IdError) -> Failure {
        Failure::from(Error::BadInput(err.to_string()))
    }
}

thread_local! {
    /// The message of the last failure on this thread (empty after a success).
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records the message of a failure for dipsea_last_error() on this thread.
pub(crate) fn set_last_error(message: &str) {
    // Interior NULs cannot appear in a C string: cut the message there.
    let text = message.split('\0').next().unwrap_or_default();
    let text = CString::new(text).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = text);
}

/// Forgets the last failure on this thread.
pub(crate) fn clear_last_error() {
    LAST_ERROR.with(|last| {
        let mut last = last.borrow_mut();
        if !last.as_bytes().is_empty() {
            *last = CString::default();
        }
    });
}

/// The message of the last failed dipsea call on the calling thread, as a
/// NUL-terminated UTF-8 string; "" if the last call succeeded or none was made.
///
/// Ownership: the string belongs to the library and stays valid until the next dipsea
/// call on the same thread (copy it to keep it); do not free it. Never NULL.
/// Threads: any thread; each thread has its own last error. Inside a callback, it
/// describes the status the callback received.
/// This function does not change the last error, and returns no dipsea_status.
#[no_mangle]
pub extern "C" fn dipsea_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|last| last.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// A static description of a status code ("DIPSEA_TIMEOUT: no node answered in
/// time"), for codes this version does not know "unknown dipsea_status".
///
/// Ownership: the string is static; do not free it. Threads: any thread.
/// This function does not change the last error, and returns no dipsea_status.
#[no_mangle]
pub extern "C" fn dipsea_status_str(status: u32) -> *const c_char {
    let text = dipsea_status::all()
        .iter()
        .find(|s| **s as u32 == status)
        .map_or("unknown dipsea_status\0", |s| s.text());
    text.as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn every_status_has_a_terminated_text_naming_it() {
        for status in dipsea_status::all() {
            let text = status.text();
            assert!(text.ends_with('\0'));
            // SAFETY: a static NUL-terminated string.
            let back = unsafe { CStr::from_ptr(dipsea_status_str(status as u32)) };
            assert_eq!(back.to_bytes(), text.trim_end_matches('\0').as_bytes());
            assert!(text.starts_with(&format!("{status:?}")));
        }
        // SAFETY: a static NUL-terminated string.
        let unknown = unsafe { CStr::from_ptr(dipsea_status_str(12345)) };
        assert_eq!(unknown.to_bytes(), b"unknown dipsea_status");
    }

    #[test]
    fn core_errors_map_to_their_codes() {
        assert_eq!(status_of(&Error::Op(OpError::Timeout)), DIPSEA_TIMEOUT);
        assert_eq!(status_of(&Error::BadInput("x".into())), DIPSEA_BAD_INPUT);
        let failure = Failure::from(IdError::HexLength(3));
        assert_eq!(failure.status, DIPSEA_BAD_INPUT);
        assert!(failure.message.contains("40 hex digits"));
    }
}
