//! `dipsea.Partitioner` and its kinds `Ring`, `Rendezvous` and `XorPartitioner`: the
//! core's keyspace partitioners, which name the r owners of a key among members.

use dipsea::keyspace::{PartitionError, Scheme, SharedPartitioner, DEFAULT_VNODES};
use dipsea::{Error, Id};
use pyo3::prelude::*;
use pyo3::PyClassInitializer;

use crate::errors::to_py;
use crate::id::{id_arg, PyId};

fn partition_to_py(err: PartitionError) -> PyErr {
    to_py(Error::from(err))
}

/// Reads an iterable of id-likes (``Id``, 20 bytes or 40 hex digits).
fn ids_arg(members: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Id>> {
    let Some(members) = members else {
        return Ok(Vec::new());
    };
    members.try_iter()?.map(|m| id_arg(&m?)).collect()
}

/// The owners of keys among a set of members: the base of ``Ring``, ``Rendezvous``
/// and ``XorPartitioner``, which hold the same methods. Thread-safe; lookups release
/// the GIL.
#[pyclass(module = "dipsea", name = "Partitioner", subclass, frozen)]
pub struct PyPartitioner {
    inner: SharedPartitioner,
    scheme: Scheme,
}

impl PyPartitioner {
    fn build(scheme: Scheme, members: Option<&Bound<'_, PyAny>>) -> PyResult<PyPartitioner> {
        let members = ids_arg(members)?;
        let inner = SharedPartitioner::with_members(scheme, &members).map_err(partition_to_py)?;
        Ok(PyPartitioner { inner, scheme })
    }
}

#[pymethods]
impl PyPartitioner {
    /// The ``r`` owners of ``key``, in order of preference (the first is the
    /// primary). Raises ``BadInput`` when ``r`` exceeds the number of members.
    fn owners(&self, py: Python<'_>, key: &Bound<'_, PyAny>, r: usize) -> PyResult<Vec<PyId>> {
        let key = id_arg(key)?;
        let owners = py
            .detach(|| self.inner.owners(&key, r))
            .map_err(partition_to_py)?;
        Ok(owners.into_iter().map(PyId).collect())
    }

    /// Adds a member, with a share proportional to ``weight`` (only ``Rendezvous``
    /// takes weights other than 1). Raises ``BadInput`` if it is a member already.
    #[pyo3(signature = (member, weight = 1.0))]
    fn add(&self, member: &Bound<'_, PyAny>, weight: f64) -> PyResult<()> {
        let member = id_arg(member)?;
        self.inner
            .add_weighted(member, weight)
            .map_err(partition_to_py)
    }

    /// Removes a member. Raises ``BadInput`` if it is not one.
    fn remove(&self, member: &Bound<'_, PyAny>) -> PyResult<()> {
        let member = id_arg(member)?;
        self.inner.remove(&member).map_err(partition_to_py)
    }

    /// The members, sorted.
    fn members(&self) -> Vec<PyId> {
        self.inner.members().into_iter().map(PyId).collect()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, member: &Bound<'_, PyAny>) -> bool {
        id_arg(member).is_ok_and(|m| self.inner.contains(&m))
    }

    fn __repr__(&self) -> String {
        let n = self.inner.len();
        match self.scheme {
            Scheme::Xor => format!("<XorPartitioner: {n} members>"),
            Scheme::Ring { vnodes } => format!("<Ring: {n} members, {vnodes} vnodes>"),
            Scheme::Rendezvous => format!("<Rendezvous: {n} members>"),
        }
    }
}

/// Consistent hashing with ``vnodes`` virtual nodes per member (Dynamo, Cassandra):
/// a key's owners are the first distinct members clockwise from its point.
#[pyclass(module = "dipsea", name = "Ring", extends = PyPartitioner, frozen)]
pub struct PyRing {
    vnodes: usize,
}

#[pymethods]
impl PyRing {
    /// A ring of ``members`` (``Id``s, 20-byte strings or hex), each at ``vnodes``
    /// points. Raises ``BadInput`` on a duplicate member or ``vnodes`` outside
    /// 1 to 4096.
    #[new]
    #[pyo3(
        signature = (members = None, vnodes = DEFAULT_VNODES),
        text_signature = "(members=None, vnodes=64)"
    )]
    fn new(
        members: Option<&Bound<'_, PyAny>>,
        vnodes: usize,
    ) -> PyResult<PyClassInitializer<PyRing>> {
        let base = PyPartitioner::build(Scheme::Ring { vnodes }, members)?;
        Ok(PyClassInitializer::from(base).add_subclass(PyRing { vnodes }))
    }

    /// Virtual nodes per member.
    #[getter]
    fn vnodes(&self) -> usize {
        self.vnodes
    }
}

/// Rendezvous (highest random weight) hashing: every member scores the key, the
/// highest scores own it; shares are exactly proportional to the weights.
#[pyclass(module = "dipsea", name = "Rendezvous", extends = PyPartitioner, frozen)]
pub struct PyRendezvous;

#[pymethods]
impl PyRendezvous {
    /// Rendezvous hashing over ``members``, each of weight 1 (``add(member,
    /// weight)`` adds a weighted one). Raises ``BadInput`` on a duplicate member.
    #[new]
    #[pyo3(signature = (members = None))]
    fn new(members: Option<&Bound<'_, PyAny>>) -> PyResult<PyClassInitializer<PyRendezvous>> {
        let base = PyPartitioner::build(Scheme::Rendezvous, members)?;
        Ok(PyClassInitializer::from(base).add_subclass(PyRendezvous))
    }
}

/// Kademlia's partitioning: the owners are the members closest to the key by XOR
/// distance.
#[pyclass(module = "dipsea", name = "XorPartitioner", extends = PyPartitioner, frozen)]
pub struct PyXorPartitioner;

#[pymethods]
impl PyXorPartitioner {
    /// XOR partitioning over ``members``. Raises ``BadInput`` on a duplicate member.
    #[new]
    #[pyo3(signature = (members = None))]
    fn new(members: Option<&Bound<'_, PyAny>>) -> PyResult<PyClassInitializer<PyXorPartitioner>> {
        let base = PyPartitioner::build(Scheme::Xor, members)?;
        Ok(PyClassInitializer::from(base).add_subclass(PyXorPartitioner))
    }
}
