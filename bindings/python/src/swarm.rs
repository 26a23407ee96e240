//! `dipsea.Swarm` and `dipsea.Latency`: the core's deterministic in-process
//! simulator, a network of many nodes in virtual time, running Kademlia or one-hop
//! nodes, with simulated subscriptions (`dipsea::sim::subscribe`).

use dipsea::sim::{Delivery, PeerDelivery};
use dipsea::{Latency, Swarm, SwarmConfig, SwarmStats, Time};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{addr, contact, overlay_arg, seconds, Bytes, PyAddr};
use crate::errors::to_py;
use crate::id::{id_arg, PyId};
use crate::keypair::PyKeypair;
use crate::mutable::public_key_arg;

/// A virtual time in seconds since the swarm was built.
fn virtual_seconds(at: Time) -> f64 {
    at.as_millis() as f64 / 1000.0
}

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
///
/// Keyword-only ``overlay``, ``partitioner``, ``replicas`` and ``network`` take the
/// names, defaults and errors of ``Node``'s: ``overlay="one-hop"`` makes every node a
/// one-hop node (full member list, a get or put straight to the key's ``replicas``
/// owners, default 3, that the ``partitioner`` names: ``"rendezvous"``, the default,
/// ``"ring"``, ``"ring:V"`` or ``"xor"``). Unlike ``Node``, a one-hop swarm needs no
/// ``network``: its nodes are members of the private network ``"sim-cluster"``
/// unless ``network`` names another, and they accept every correctly signed
/// broadcast (``accept_broadcasts="open"``), which is how membership travels. An
/// unknown overlay or partitioner, or a partitioner or replicas without
/// ``overlay="one-hop"``, raises ``BadInput``.
///
/// Subscriptions: ``subscribe(node, public_key)`` and ``subscribe_peers(node,
/// info_hash)`` subscribe node ``node`` (an index, as ``join()`` returns; the first
/// nodes are ``0`` to ``nodes - 1``); ``put_mutable`` and ``announce`` publish from a
/// chosen node; ``take_updates()`` and ``take_peer_updates()`` return what the
/// subscribers were delivered since the last call. In a one-hop swarm a subscription
/// goes to the key's owners, which ``put_mutable`` and ``announce`` store on.
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
    /// raise ``BadInput`` (a ``ValueError``) with the core's reason. ``overlay``,
    /// ``partitioner``, ``replicas`` and ``network``: see the class. ``threads``:
    /// how many threads run the nodes (default: the machine's cores, at most 8);
    /// the results do not depend on it.
    #[new]
    #[pyo3(signature = (nodes = 1000, seed = 0, latency = None, loss = 0.0, *, overlay = None, partitioner = None, replicas = None, network = None, threads = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        nodes: usize,
        seed: u64,
        latency: Option<PyLatency>,
        loss: f64,
        overlay: Option<&str>,
        partitioner: Option<&str>,
        replicas: Option<usize>,
        network: Option<&str>,
        threads: Option<usize>,
    ) -> PyResult<PySwarm> {
        let mut config = SwarmConfig {
            nodes,
            seed,
            loss,
            ..SwarmConfig::default()
        };
        if let Some(threads) = threads {
            config.threads = threads;
        }
        if let Some(latency) = latency {
            config.latency = latency.0;
        }
        let overlay = overlay_arg(overlay, partitioner, replicas)?.unwrap_or_default();
        config.set_overlay(overlay, network).map_err(to_py)?;
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

    /// Whether node ``node`` (an index) is running: joined and neither crashed nor
    /// gone. ``False`` for an index no node has.
    fn is_live(&self, py: Python<'_>, node: usize) -> bool {
        py.detach(|| self.swarm.lock().is_live(node))
    }

    /// Forgets the operations behind ``stats()``'s success rate and percentiles
    /// (``ops``, ``rounds_*``, ``messages_*``, ``latency_*``; the traffic counters go
    /// on), to measure one phase alone, e.g. the gets after the puts.
    fn reset_ops(&self, py: Python<'_>) {
        py.detach(|| self.swarm.lock().reset_ops());
    }

    /// Node ``node`` subscribes to the BEP 44 mutable item of ``public_key`` (32
    /// bytes) and ``salt`` (at most 64 bytes): a lookup, then ``dipsea_sub`` to the
    /// storing nodes it found, which push each newer version from then on. Runs
    /// virtual time until that ends and returns the storing nodes asked, as
    /// ``(Id, (host, port))`` contacts. Each version a subscriber is delivered later
    /// shows in ``take_updates()``. Raises ``Shutdown`` when node ``node`` is down or
    /// does not exist, ``BadInput`` for a key that is not 32 bytes or a salt over 64
    /// bytes, ``Busy`` past the node's subscription limit, ``NoRoute`` or
    /// ``Timeout`` when no storing node was found.
    #[pyo3(signature = (node, public_key, *, salt = None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        node: usize,
        public_key: &[u8],
        salt: Option<Vec<u8>>,
    ) -> PyResult<Vec<(PyId, PyAddr)>> {
        let key = public_key_arg(public_key)?;
        let salt = salt.unwrap_or_default();
        let asked = py
            .detach(|| self.swarm.lock().subscribe_from(node, &key, &salt))
            .map_err(to_py)?;
        Ok(asked.into_iter().map(contact).collect())
    }

    /// Node ``node`` subscribes to the peers of ``info_hash``: a lookup, then
    /// ``dipsea_sub`` to the nodes closest to it (where ``announce`` stores), which
    /// push each peer announced to them from then on. Returns the nodes asked, as
    /// ``(Id, (host, port))`` contacts; each peer a subscriber is delivered later
    /// shows in ``take_peer_updates()``. Raises as ``subscribe``.
    fn subscribe_peers(
        &self,
        py: Python<'_>,
        node: usize,
        info_hash: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<(PyId, PyAddr)>> {
        let info_hash = id_arg(info_hash)?;
        let asked = py
            .detach(|| self.swarm.lock().subscribe_peers_from(node, info_hash))
            .map_err(to_py)?;
        Ok(asked.into_iter().map(contact).collect())
    }

    /// Node ``node`` publishes ``value`` as version ``seq`` of ``keypair``'s mutable
    /// item with ``salt`` (a lookup, then ``put`` to the storing nodes, which push it
    /// to their subscribers); returns how many nodes stored it. Raises
    /// ``Shutdown`` when node ``node`` is down or does not exist, ``SeqTooOld`` when
    /// the storing nodes hold a newer version, ``BadInput`` for a value over 1000
    /// bytes bencoded or a salt over 64 bytes.
    #[pyo3(signature = (node, keypair, value, *, seq, salt = None))]
    fn put_mutable(
        &self,
        py: Python<'_>,
        node: usize,
        keypair: PyRef<'_, PyKeypair>,
        value: &[u8],
        seq: i64,
        salt: Option<Vec<u8>>,
    ) -> PyResult<usize> {
        let keypair = keypair.0.clone();
        let salt = salt.unwrap_or_default();
        py.detach(|| {
            self.swarm
                .lock()
                .put_mutable_from(node, &keypair, &salt, value, seq)
        })
        .map(|stored| stored.stored)
        .map_err(to_py)
    }

    /// Node ``node`` announces that it serves ``info_hash`` on ``port`` (``None``:
    /// its own UDP port, 6881 at its virtual address); returns how many nodes stored
    /// the announce. Raises ``Shutdown`` when node ``node`` is down or does not
    /// exist.
    #[pyo3(signature = (node, info_hash, port = None))]
    fn announce(
        &self,
        py: Python<'_>,
        node: usize,
        info_hash: &Bound<'_, PyAny>,
        port: Option<u16>,
    ) -> PyResult<usize> {
        let info_hash = id_arg(info_hash)?;
        py.detach(|| self.swarm.lock().announce_from(node, info_hash, port))
            .map_err(to_py)
    }

    /// The versions subscribers were delivered since the last call, in order of
    /// delivery: ``(node, seq, at)`` tuples, ``at`` the virtual time of delivery in
    /// seconds (as ``stats()["virtual_ms"] / 1000`` counts it).
    fn take_updates(&self, py: Python<'_>) -> Vec<(usize, i64, f64)> {
        let updates = py.detach(|| self.swarm.lock().take_updates());
        updates
            .into_iter()
            .map(|Delivery { node, seq, at }| (node, seq, virtual_seconds(at)))
            .collect()
    }

    /// The peers subscribers were delivered since the last call, in order of
    /// delivery: ``(node, info_hash, (host, port), at)`` tuples, ``at`` the virtual
    /// time of delivery in seconds.
    fn take_peer_updates(&self, py: Python<'_>) -> Vec<(usize, PyId, PyAddr, f64)> {
        let updates = py.detach(|| self.swarm.lock().take_peer_updates());
        updates
            .into_iter()
            .map(
                |PeerDelivery {
                     node,
                     info_hash,
                     peer,
                     at,
                 }| (node, PyId(info_hash), addr(peer), virtual_seconds(at)),
            )
            .collect()
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
