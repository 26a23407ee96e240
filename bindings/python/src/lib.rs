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
mod node;
mod swarm;

use pyo3::prelude::*;

/// The native part of the `dipsea` package; import `dipsea` instead.
#[pymodule]
fn _dipsea(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<id::PyId>()?;
    m.add_class::<node::PyNode>()?;
    m.add_class::<node::PyAsyncNode>()?;
    m.add_class::<swarm::PySwarm>()?;
    m.add_class::<swarm::PyLatency>()?;
    m.add("ID_LEN", dipsea::ID_LEN)?;
    let shutdown = wrap_pyfunction!(node::_shutdown_runtime, m)?;
    m.add_function(shutdown.clone())?;
    m.py()
        .import("atexit")?
        .call_method1("register", (shutdown,))?;
    Ok(())
}
