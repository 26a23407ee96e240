//! The native module `dipsea._dipsea`: Python bindings of the dipsea engine.
//!
//! Only translation lives here: argument checks, one call into the core, the result
//! mapped back (`convert`), errors mapped in one function (`errors::to_py`), and the
//! GIL released around every wait. The `dipsea` package (`python/dipsea`) re-exports
//! these classes with the exception tree of `dipsea/errors.py`.

mod bridge;
mod convert;
mod errors;
mod id;
mod keypair;
mod keyspace;
mod mutable;
mod node;
mod onehop;
mod push;
mod scrape;
mod swarm;

use pyo3::prelude::*;

/// The native part of the `dipsea` package; import `dipsea` instead.
#[pymodule]
fn _dipsea(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<id::PyId>()?;
    m.add_class::<keypair::PyKeypair>()?;
    m.add_class::<mutable::PyMutableItem>()?;
    m.add_class::<node::PyNode>()?;
    m.add_class::<node::PyAsyncNode>()?;
    m.add_class::<push::PyBroadcast>()?;
    m.add_class::<push::PyBroadcasts>()?;
    m.add_class::<push::PyAsyncBroadcasts>()?;
    m.add_class::<push::PySubscription>()?;
    m.add_class::<push::PyAsyncSubscription>()?;
    m.add_class::<push::PyPeerSubscription>()?;
    m.add_class::<push::PyAsyncPeerSubscription>()?;
    m.add_class::<scrape::PyScrape>()?;
    m.add_class::<scrape::PySamples>()?;
    m.add_class::<swarm::PySwarm>()?;
    m.add_class::<swarm::PyLatency>()?;
    m.add_class::<onehop::PyOneHopSwarm>()?;
    m.add_class::<keyspace::PyPartitioner>()?;
    m.add_class::<keyspace::PyRing>()?;
    m.add_class::<keyspace::PyRendezvous>()?;
    m.add_class::<keyspace::PyXorPartitioner>()?;
    m.add("ID_LEN", dipsea::ID_LEN)?;
    // The crate version: the same one the wheel, the C library and the CLI carry.
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(default_options, m)?)?;
    let shutdown = wrap_pyfunction!(node::_shutdown_runtime, m)?;
    m.add_function(shutdown.clone())?;
    m.py()
        .import("atexit")?
        .call_method1("register", (shutdown,))?;
    Ok(())
}

/// Every node option that ``Node(options=...)`` and ``AsyncNode(options=...)`` accept,
/// with its default: flags as ``bool``, counts as ``int``, durations in seconds.
/// What each means is documented once, on the core's ``NodeConfig``.
#[pyfunction]
fn default_options(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    convert::default_options(py)
}
