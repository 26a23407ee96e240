//! `dipsea.Id`: the 160-bit id of nodes, keys and info-hashes.

use dipsea::{Id, ID_LEN};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::errors::id_to_py;

/// A 160-bit identifier: a node id, an info-hash, or the key of a stored item.
///
/// Build one with ``Id.sha1(data)``, ``Id.from_hex(s)``, ``Id(raw_20_bytes)`` or
/// ``Id.random()``. ``a ^ b`` is the Kademlia XOR distance (itself an ``Id``; smaller
/// is closer). Ids are immutable, hashable and ordered as big-endian integers.
#[pyclass(module = "dipsea", name = "Id", frozen, eq, ord, hash, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PyId(pub Id);

#[pymethods]
impl PyId {
    /// An id from exactly 20 raw bytes (or another ``Id``, or 40 hex digits).
    #[new]
    fn new(value: &Bound<'_, PyAny>) -> PyResult<PyId> {
        id_arg(value).map(PyId)
    }

    /// The SHA-1 digest of ``data``: its content address.
    #[staticmethod]
    fn sha1(data: &[u8]) -> PyId {
        PyId(Id::sha1(data))
    }

    /// Parses 40 hex digits, either case.
    #[staticmethod]
    fn from_hex(s: &str) -> PyResult<PyId> {
        s.parse().map(PyId).map_err(id_to_py)
    }

    /// An id from exactly 20 raw bytes, big-endian.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<PyId> {
        Id::from_slice(data).map(PyId).map_err(id_to_py)
    }

    /// A uniformly random id.
    #[staticmethod]
    fn random() -> PyId {
        PyId(Id::random())
    }

    /// The id as 40 lowercase hex digits.
    fn hex(&self) -> String {
        self.0.to_string()
    }

    /// The XOR distance from this id to ``other``, as an ``Id``.
    fn distance(&self, other: PyId) -> PyId {
        PyId(Id::from_bytes(*self.0.distance(&other.0).as_bytes()))
    }

    /// How many leading bits this id shares with ``other`` (160 when equal).
    fn common_prefix_len(&self, other: PyId) -> usize {
        self.0.common_prefix_len(&other.0)
    }

    fn __xor__(&self, other: PyId) -> PyId {
        self.distance(other)
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.as_bytes())
    }

    fn __len__(&self) -> usize {
        ID_LEN
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        format!("Id('{}')", self.0)
    }

    /// Pickles as ``Id.from_hex(hex)``.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let from_hex = py.get_type::<PyId>().getattr("from_hex")?;
        let args = PyTuple::new(py, [slf.get().0.to_string()])?;
        PyTuple::new(py, [from_hex, args.into_any()])
    }
}

/// Reads an id argument: an ``Id``, 20 raw bytes, or 40 hex digits. Wrong sizes
/// and bad digits raise ``BadInput`` (a ``ValueError``), other types ``TypeError``.
pub fn id_arg(value: &Bound<'_, PyAny>) -> PyResult<Id> {
    if let Ok(id) = value.cast::<PyId>() {
        return Ok(id.get().0);
    }
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Id::from_slice(bytes.as_bytes()).map_err(id_to_py);
    }
    if let Ok(s) = value.cast::<PyString>() {
        return s.to_cow()?.parse().map_err(id_to_py);
    }
    Err(PyTypeError::new_err(format!(
        "expected a dipsea.Id, 20 bytes or 40 hex digits, got {}",
        value.get_type().name()?
    )))
}
