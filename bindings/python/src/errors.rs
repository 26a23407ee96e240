//! The exception tree: the classes live in `dipsea/errors.py` (so that they can
//! inherit from two built-ins, e.g. `DhtTimeout(DhtError, TimeoutError)`), and
//! [`to_py`] maps the core's error enum onto them, exhaustively, in one place.

use dipsea::{Error, IdError, OpError};
use pyo3::PyErr;

pyo3::import_exception!(dipsea.errors, NoRoute);
pyo3::import_exception!(dipsea.errors, DhtTimeout);
pyo3::import_exception!(dipsea.errors, PutFailed);
pyo3::import_exception!(dipsea.errors, CasMismatch);
pyo3::import_exception!(dipsea.errors, SeqTooOld);
pyo3::import_exception!(dipsea.errors, BadInput);
pyo3::import_exception!(dipsea.errors, Busy);
pyo3::import_exception!(dipsea.errors, NodeClosed);
pyo3::import_exception!(dipsea.errors, DhtOSError);
pyo3::import_exception!(dipsea.errors, InternalError);

/// The Python exception for a core error. A new core variant fails to compile here
/// until it is mapped (no wildcard arm on purpose).
pub fn to_py(err: Error) -> PyErr {
    let message = err.to_string();
    match err {
        Error::Op(OpError::NoRoute) => NoRoute::new_err(message),
        Error::Op(OpError::Timeout) => DhtTimeout::new_err(message),
        Error::Op(OpError::NotStored { .. }) => PutFailed::new_err(message),
        Error::Op(OpError::CasMismatch) => CasMismatch::new_err(message),
        Error::Op(OpError::SeqTooOld) => SeqTooOld::new_err(message),
        Error::Op(OpError::BadInput(_)) | Error::BadInput(_) => BadInput::new_err(message),
        Error::Op(OpError::Busy(_)) => Busy::new_err(message),
        Error::Op(OpError::Shutdown) => NodeClosed::new_err(message),
        // OSError(errno, strerror) fills `errno` and `strerror` like the built-ins do.
        Error::Io(e) => match e.raw_os_error() {
            Some(errno) => DhtOSError::new_err((errno, message)),
            None => DhtOSError::new_err(message),
        },
        Error::Internal(_) => InternalError::new_err(message),
    }
}

/// An id argument of the wrong size or with a bad hex digit: [`BadInput`], which is
/// also a `ValueError`.
pub fn id_to_py(err: IdError) -> PyErr {
    to_py(Error::BadInput(err.to_string()))
}

/// The "node is closed" error for calls after `close()`.
pub fn closed() -> PyErr {
    to_py(Error::Op(OpError::Shutdown))
}
