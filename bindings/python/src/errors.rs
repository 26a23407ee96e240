//! The exception tree: the classes live in `dipsea/errors.py` (so that they can
//! inherit from two built-ins, e.g. `Timeout(DhtError, TimeoutError)`), and
//! [`to_py`] maps the core's error enum onto them, exhaustively, in one place. Each
//! class is named after the core variant it stands for (`OpError::NotStored` is
//! `dipsea.NotStored`, as it is `DIPSEA_NOT_STORED` in C).

use dipsea::{Error, IdError, OpError};
use pyo3::PyErr;

pyo3::import_exception!(dipsea.errors, NoRoute);
pyo3::import_exception!(dipsea.errors, Timeout);
pyo3::import_exception!(dipsea.errors, NotStored);
pyo3::import_exception!(dipsea.errors, CasMismatch);
pyo3::import_exception!(dipsea.errors, SeqTooOld);
pyo3::import_exception!(dipsea.errors, BadInput);
pyo3::import_exception!(dipsea.errors, Busy);
pyo3::import_exception!(dipsea.errors, Shutdown);
pyo3::import_exception!(dipsea.errors, Io);
pyo3::import_exception!(dipsea.errors, Internal);

/// The Python exception for a core error. A new core variant fails to compile here
/// until it is mapped (no wildcard arm on purpose).
pub fn to_py(err: Error) -> PyErr {
    let message = err.to_string();
    match err {
        Error::Op(OpError::NoRoute) => NoRoute::new_err(message),
        Error::Op(OpError::Timeout) => Timeout::new_err(message),
        Error::Op(OpError::NotStored { .. }) => NotStored::new_err(message),
        Error::Op(OpError::CasMismatch) => CasMismatch::new_err(message),
        Error::Op(OpError::SeqTooOld) => SeqTooOld::new_err(message),
        Error::Op(OpError::BadInput(_)) | Error::BadInput(_) => BadInput::new_err(message),
        Error::Op(OpError::Busy { .. }) => Busy::new_err(message),
        Error::Op(OpError::Shutdown) => Shutdown::new_err(message),
        // OSError(errno, strerror) fills `errno` and `strerror` like the built-ins do.
        Error::Io(e) => match e.raw_os_error() {
            Some(errno) => Io::new_err((errno, message)),
            None => Io::new_err(message),
        },
        Error::Internal(_) => Internal::new_err(message),
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
