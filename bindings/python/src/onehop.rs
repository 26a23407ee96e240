//! `dipsea.OneHopSwarm`: the core's one-hop overlay simulator (`dipsea::sim::onehop`).

use dipsea::keyspace::Scheme;
use dipsea::sim::{OneHopConfig, OneHopSwarm};
use dipsea::Error;
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::seconds;
use crate::errors::to_py;

/// A simulated one-hop network in this process: ``nodes`` members that all know each
/// other, requests going straight to the ``replicas`` owners that ``partitioner``
/// (``"rendezvous"``, ``"ring"``, ``"ring:V"`` or ``"xor"``) names, membership spread
/// by broadcast and repaired by anti-entropy, optional churn of median ``session``
/// seconds; virtual time, reproducible from ``seed``.
///
/// ``run(ops, spread)`` puts ``ops`` items, then gets them, each phase spread over
/// ``spread`` seconds; ``stats()`` gives round trips per get, messages per get and
/// put, success, membership traffic and memory per node. Bad arguments (more replicas
/// than nodes, an unknown partitioner) raise ``BadInput``.
#[pyclass(module = "dipsea", name = "OneHopSwarm", frozen)]
pub struct PyOneHopSwarm {
    swarm: Mutex<OneHopSwarm>,
}

#[pymethods]
impl PyOneHopSwarm {
    #[new]
    #[pyo3(signature = (nodes = 2000, seed = 0, partitioner = "rendezvous", replicas = 3, loss = 0.0, session = None))]
    fn new(
        nodes: usize,
        seed: u64,
        partitioner: &str,
        replicas: usize,
        loss: f64,
        session: Option<f64>,
    ) -> PyResult<PyOneHopSwarm> {
        let scheme: Scheme = partitioner
            .parse()
            .map_err(|e: dipsea::keyspace::PartitionError| to_py(Error::from(e)))?;
        let config = OneHopConfig {
            nodes,
            seed,
            scheme,
            replicas,
            loss,
            churn_median_session: session.map(seconds).transpose()?,
            ..OneHopConfig::default()
        };
        let swarm = OneHopSwarm::new(config).map_err(to_py)?;
        Ok(PyOneHopSwarm {
            swarm: Mutex::new(swarm),
        })
    }

    /// Puts ``ops`` items from random members spread over ``spread`` seconds, then
    /// gets each of them the same way.
    fn run(&self, py: Python<'_>, ops: usize, spread: f64) -> PyResult<()> {
        let spread = seconds(spread)?;
        py.detach(|| self.swarm.lock().run(ops, spread));
        Ok(())
    }

    /// Runs the network for ``seconds`` of virtual time (broadcasts, digests, churn).
    fn advance(&self, py: Python<'_>, seconds: f64) -> PyResult<()> {
        let d = crate::convert::seconds(seconds)?;
        py.detach(|| self.swarm.lock().advance(d));
        Ok(())
    }

    /// The measurements, by the names of the core's ``OneHopStats``.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.swarm.lock().stats();
        let d = PyDict::new(py);
        d.set_item("nodes", s.nodes)?;
        d.set_item("live", s.live)?;
        d.set_item("gets", s.gets)?;
        d.set_item("gets_ok", s.gets_ok)?;
        d.set_item("puts", s.puts)?;
        d.set_item("puts_ok", s.puts_ok)?;
        d.set_item("success_rate", s.success_rate)?;
        d.set_item("one_round_gets", s.one_round_gets)?;
        d.set_item("rounds_per_get_p99", s.rounds_per_get_p99)?;
        d.set_item("messages_per_get", s.messages_per_get)?;
        d.set_item("messages_per_put", s.messages_per_put)?;
        d.set_item("one_round_puts", s.one_round_puts)?;
        d.set_item("get_latency_p50_ms", s.get_latency_p50_ms)?;
        d.set_item("get_latency_p99_ms", s.get_latency_p99_ms)?;
        d.set_item("membership_events", s.membership_events)?;
        d.set_item("membership_messages", s.membership_messages)?;
        d.set_item(
            "membership_bytes_per_node_per_s",
            s.membership_bytes_per_node_per_s,
        )?;
        d.set_item("handoff_messages", s.handoff_messages)?;
        d.set_item("repaired", s.repaired)?;
        d.set_item("oldest_unheard_ms", s.oldest_unheard_ms)?;
        d.set_item("memory_per_node", s.memory_per_node)?;
        d.set_item("membership_bytes_per_node", s.membership_bytes_per_node)?;
        d.set_item("virtual_ms", s.virtual_ms)?;
        Ok(d)
    }
}
