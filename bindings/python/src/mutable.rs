//! `dipsea.MutableItem`: a verified version of a BEP 44 mutable item.

use dipsea::MutableValue;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// A verified version of a mutable item, as ``get_mutable`` returns it: ``value``
/// (bytes), ``seq`` (its sequence number), ``signature`` (64 bytes, checked),
/// ``public_key`` and ``salt``.
#[pyclass(module = "dipsea", name = "MutableItem", frozen)]
pub struct PyMutableItem(pub MutableValue);

#[pymethods]
impl PyMutableItem {
    /// The value: the byte string the item holds (its bencoding if it holds another
    /// bencoded type).
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.value)
    }

    /// The sequence number: a newer version has a higher one.
    #[getter]
    fn seq(&self) -> i64 {
        self.0.seq
    }

    /// The ed25519 signature over salt, seq and value, 64 bytes.
    #[getter]
    fn signature<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.signature)
    }

    /// The writer's public key, 32 bytes.
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.public_key)
    }

    /// The salt it was published with (``b""`` if none).
    #[getter]
    fn salt<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.salt)
    }

    fn __repr__(&self) -> String {
        format!(
            "MutableItem(seq={}, value={} bytes)",
            self.0.seq,
            self.0.value.len()
        )
    }
}

/// Reads a public key argument: exactly 32 bytes, else ``BadInput`` (a ``ValueError``).
pub fn public_key_arg(key: &[u8]) -> PyResult<[u8; dipsea::keypair::PUBLIC_KEY_LEN]> {
    <[u8; dipsea::keypair::PUBLIC_KEY_LEN]>::try_from(key).map_err(|_| {
        crate::errors::to_py(dipsea::Error::BadInput(format!(
            "a public key is {} bytes, got {}",
            dipsea::keypair::PUBLIC_KEY_LEN,
            key.len()
        )))
    })
}

/// The options of a mutable put, from the keyword arguments.
pub fn put_options(
    salt: Option<Vec<u8>>,
    seq: Option<i64>,
    cas: Option<i64>,
) -> dipsea::MutablePut {
    dipsea::MutablePut {
        salt: salt.unwrap_or_default(),
        seq,
        cas,
    }
}
