//! `dipsea.Keypair`: the ed25519 key that signs BEP 44 mutable items.

use std::path::PathBuf;

use dipsea::keypair::{Keypair, SEED_LEN};
use dipsea::Error;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::to_py;
use crate::id::PyId;

/// An ed25519 keypair: who may publish and update a mutable item.
///
/// Make one with ``Keypair.random()``, ``Keypair.from_seed(seed)`` (32 bytes: the
/// same seed always gives the same keys) or ``Keypair.load(path)``; keep it with
/// ``save(path)``. ``public_key`` (32 bytes) is what readers pass to
/// ``get_mutable``. The seed is the whole secret; ``repr()`` shows only the public key.
#[pyclass(module = "dipsea", name = "Keypair", frozen)]
pub struct PyKeypair(pub Keypair);

#[pymethods]
impl PyKeypair {
    /// A new keypair from the operating system's random source.
    #[staticmethod]
    fn random() -> PyKeypair {
        PyKeypair(Keypair::random())
    }

    /// The keypair whose secret is ``seed``, exactly 32 bytes.
    #[staticmethod]
    fn from_seed(seed: &[u8]) -> PyResult<PyKeypair> {
        let seed = <&[u8; SEED_LEN]>::try_from(seed).map_err(|_| {
            to_py(Error::BadInput(format!(
                "a seed is {SEED_LEN} bytes, got {}",
                seed.len()
            )))
        })?;
        Ok(PyKeypair(Keypair::from_seed(seed)))
    }

    /// Reads a keypair from a file written by ``save`` (or ``dipsea keygen``).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<PyKeypair> {
        py.detach(move || Keypair::load(path))
            .map(PyKeypair)
            .map_err(to_py)
    }

    /// Writes the secret to a new file at ``path``, readable by its owner only (mode
    /// 0600); an existing file is never replaced (``Io``, a
    /// ``FileExistsError``-like ``OSError``).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let keypair = self.0.clone();
        py.detach(move || keypair.save(path)).map_err(to_py)
    }

    /// The public key, 32 bytes.
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.public_key())
    }

    /// The secret seed, 32 bytes: keep it private.
    #[getter]
    fn seed<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.seed())
    }

    /// Where this key's item with ``salt`` lives: ``Id.sha1(public_key + salt)``.
    #[pyo3(signature = (salt = None))]
    fn target(&self, salt: Option<&[u8]>) -> PyId {
        PyId(self.0.target(salt.unwrap_or_default()))
    }

    fn __repr__(&self) -> String {
        format!(
            "Keypair(public_key='{}')",
            dipsea::keypair::to_hex(&self.0.public_key())
        )
    }
}
