//! `dipsea.Swarm` and `dipsea.Latency`: the core's deterministic in-process
//! simulator, a network of many nodes in virtual time.

use dipsea::{Latency, Swarm, SwarmConfig, SwarmStats};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{seconds, Bytes};
use crate::errors::to_py;
use crate::id::{id_arg, PyId};

/// How long a simulated datagram takes between two nodes; each link draws its own
/// latency once from the model (a function of the swarm's seed).
///
/// Build one with ``Latency.constant(s)``, ``Latency.uniform(min_s, max_s)`` or
/// ``Latency.long_tail(median_s, p99_s)``; times are in seconds.
#[pyclass(module = "dipsea", name = "Latency", frozen, from_py_object)]
#[derive(Clone, Copy)]
pub struct PyLatency(Latency);

#[pymethods]
impl PyLatency {
    /// Every link has this one-way latency.
    #[staticmethod]
    fn constant(latency: f64) -> PyResult<PyLatency> {
        Ok(PyLatency(Latency::Constant(seconds(latency)?)))
    }

    /// Each link's latency is uniform between ``min`` and ``max``.
    #[staticmethod]
    fn uniform(min: f64, max: f64) -> PyResult<PyLatency> {
        Ok(PyLatency(Latency::Uniform {
            min: seconds(min)?,
            max: seconds(max)?,
        }))
    }

    /// Log-normal link latencies with this median and 99th percentile (the shape
    /// measured on the Internet), capped at 60 s.
    #[staticmethod]
    fn long_tail(median: f64, p99: f64) -> PyResult<PyLatency> {
        Ok(PyLatency(Latency::LongTail {
            median: seconds(median)?,
            p99: seconds(p99)?,
        }))
    }

    fn __repr__(&self) -> String {
        match self.0 {
            Latency::Constant(d) => format!("Latency.constant({})", d.as_secs_f64()),
            Latency::Uniform { min, max } => {
                format!(
                    "Latency.uniform({}, {})",
                    min.as_secs_f64(),
                    max.as_secs_f64()
                )
            }
            Latency::LongTail { median, p99 } => format!(
                "Latency.long_tail({}, {})",
                median.as_secs_f64(),
                p99.as_secs_f64()
            ),
        }
    }
}

/// A simulated DHT network in this process: ``nodes`` real dipsea nodes joined by
/// real lookups over a virtual network with per-link ``latency`` and datagram
/// ``loss``, in virtual time, single-threaded and reproducible from ``seed``.
///
/// ``put``/``get`` run one operation from a random live node until it ends; faults
/// (``crash``, ``partition``/``heal``) take effect at once; ``advance`` lets virtual
/// time pass (timeouts, maintenance, re-publishing). ``stats()`` summarizes the
/// operations and traffic. Calls release the GIL; one call runs at a time.
#[pyclass(module = "dipsea", name = "Swarm", frozen)]
pub struct PySwarm {
    /// The simulator is driven by one caller at a time.
    swarm: Mutex<Swarm>,
}

#[pymethods]
impl PySwarm {
    /// Builds the network: ``nodes`` joins, run in virtual time (this takes a
    /// while for large networks). ``latency`` defaults to the core's
    /// (``SwarmConfig``). Values out of range (``nodes=0``, ``loss`` outside 0 to 1)
    /// raise ``BadInput`` (a ``ValueError``) with the core's reason.
    #[new]
    #[pyo3(signature = (nodes = 1000, seed = 0, latency = None, loss = 0.0))]
    fn new(
        py: Python<'_>,
        nodes: usize,
        seed: u64,
        latency: Option<PyLatency>,
        loss: f64,
    ) -> PyResult<PySwarm> {
        let mut config = SwarmConfig {
            nodes,
            seed,
            loss,
            ..SwarmConfig::default()
        };
        if let Some(latency) = latency {
            config.latency = latency.0;
        }
        let swarm = py.detach(move || Swarm::new(config)).map_err(to_py)?;
        Ok(PySwarm {
            swarm: Mutex::new(swarm),
        })
    }

    /// Puts ``value`` as an immutable item from a random live node; returns its key.
    fn put(&self, py: Python<'_>, value: &[u8]) -> PyResult<PyId> {
        let value = value.to_vec();
        let result = py.detach(|| self.swarm.lock().put(&value)).map_err(to_py)?;
        Ok(PyId(result.key))
    }

    /// Gets the item ``key`` from a random live node; ``None`` if nobody had it.
    fn get(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<Bytes>> {
        let key = id_arg(key)?;
        let value = py.detach(|| self.swarm.lock().get(key)).map_err(to_py)?;
        Ok(value.map(Bytes))
    }

    /// Crashes ``fraction`` (0 to 1) of the live nodes, picked at random; returns
    /// how many crashed.
    fn crash(&self, py: Python<'_>, fraction: f64) -> PyResult<usize> {
        py.detach(|| self.swarm.lock().crash(fraction))
            .map_err(to_py)
    }

    /// Splits the live nodes in two groups, ``fraction`` of them in the second; no
    /// datagram crosses between the groups until ``heal()``.
    fn partition(&self, py: Python<'_>, fraction: f64) -> PyResult<()> {
        py.detach(|| self.swarm.lock().partition(fraction))
            .map_err(to_py)
    }

    /// Lifts the partition.
    fn heal(&self, py: Python<'_>) {
        py.detach(|| self.swarm.lock().heal());
    }

    /// Runs the network for ``seconds`` of virtual time.
    fn advance(&self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        let d = crate::convert::seconds(seconds)?;
        py.detach(|| self.swarm.lock().advance(d));
        Ok(())
    }

    /// A new node joins through a random live node; returns its index.
    fn join(&self, py: Python<'_>) -> usize {
        py.detach(|| self.swarm.lock().join())
    }

    /// Nodes running now.
    #[getter]
    fn live(&self, py: Python<'_>) -> usize {
        py.detach(|| self.swarm.lock().live())
    }

    /// Summary of the operations and traffic so far: success rate, lookup rounds,
    /// messages and virtual latency percentiles, packets, memory per node, times.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let SwarmStats {
            nodes,
            live,
            ops,
            ops_ok,
            success_rate,
            rounds_p50,
            rounds_p99,
            messages_per_lookup_p50,
            messages_per_lookup_p99,
            latency_p50_ms,
            latency_p99_ms,
            bytes_sent,
            packets_sent,
            packets_lost,
            memory_per_node,
            build_wall_ms,
            wall_ms,
            virtual_ms,
        } = py.detach(|| self.swarm.lock().stats());
        let d = PyDict::new(py);
        d.set_item("nodes", nodes)?;
        d.set_item("live", live)?;
        d.set_item("ops", ops)?;
        d.set_item("ops_ok", ops_ok)?;
        d.set_item("success_rate", success_rate)?;
        d.set_item("rounds_p50", rounds_p50)?;
        d.set_item("rounds_p99", rounds_p99)?;
        d.set_item("messages_per_lookup_p50", messages_per_lookup_p50)?;
        d.set_item("messages_per_lookup_p99", messages_per_lookup_p99)?;
        d.set_item("latency_p50_ms", latency_p50_ms)?;
        d.set_item("latency_p99_ms", latency_p99_ms)?;
        d.set_item("bytes_sent", bytes_sent)?;
        d.set_item("packets_sent", packets_sent)?;
        d.set_item("packets_lost", packets_lost)?;
        d.set_item("memory_per_node", memory_per_node)?;
        d.set_item("build_wall_ms", build_wall_ms)?;
        d.set_item("wall_ms", wall_ms)?;
        d.set_item("virtual_ms", virtual_ms)?;
        Ok(d)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        py.detach(|| self.swarm.lock().len())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        py.detach(|| {
            let swarm = self.swarm.lock();
            format!("<dipsea.Swarm nodes={} live={}>", swarm.len(), swarm.live())
        })
    }
}
