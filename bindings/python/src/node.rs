//! `dipsea.Node` (blocking) and `dipsea.AsyncNode` (asyncio): a running DHT node on
//! a UDP socket.
//!
//! `Node` wraps the core's [`BlockingNode`], which owns a tokio runtime; every call
//! that waits on the network releases the GIL, so many Python threads can share one
//! node. `AsyncNode` wraps a [`NodeHandle`] spawned on the runtime that
//! pyo3-async-runtimes keeps (one per process); its methods return `asyncio.Future`s
//! completed by the bridge of `crate::bridge`, with no thread or task per call.

use std::path::PathBuf;
use std::sync::Arc;

use dipsea::{BlockingNode, NodeHandle};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3_async_runtimes::tokio::get_runtime;

use crate::bridge::{detach_in_turn, spawn};
use crate::scrape::{PySamples, PyScrape};

use crate::convert::{
    addr, builder, contact, socket_addr, stats_dict, with_network, with_overlay, Bytes, PyAddr,
};
use crate::errors::{closed, to_py};
use crate::id::{id_arg, PyId};
use crate::keypair::PyKeypair;
use crate::mutable::{public_key_arg, put_options, PyMutableItem};
use crate::push::{
    self, BroadcastSource, Outgoing, PeersSource, PyAsyncBroadcasts, PyAsyncPeerSubscription,
    PyAsyncSubscription, PyBroadcasts, PyPeerSubscription, PySubscription, SubscriptionSource,
};

/// A running DHT node with a blocking API.
///
/// ``Node(bootstrap=["host:port", ...])`` binds its UDP sockets (by default IPv4 and IPv6),
/// starts the node and joins the network in the background
/// (``bootstrap()`` waits for that). Every method is thread-safe and releases the
/// GIL while it waits; threads whose calls end together take the GIL back in the
/// order they ended. Use it as a context manager, or call ``close()``, to stop it
/// and free its port.
///
/// Every ``Node`` of the process runs on one shared runtime with a thread per core
/// (started by the first, stopped when the last is closed and dropped, or at
/// interpreter exit); ``workers=n`` gives a node a runtime of its own instead.
///
/// Arguments: ``bind``, the local ``host:port`` (port 0 picks a free one; by
/// default port 0 on all interfaces, IPv4 and, when the host has it, IPv6);
/// keyword-only ``bind6``, an IPv6 ``[host]:port`` bound beside ``bind`` (BEP 32
/// dual stack: a routing table per family; port 0 takes ``bind``'s port);
/// ``bootstrap``, ``host:port`` addresses to join through (resolved at start;
/// without any, and without a saved state, the node joins the public Mainline DHT
/// through its well-known routers unless keyword-only ``no_default_routers`` is
/// true, which makes it the first node of a private network);
/// ``read_only``, BEP 43 (answer no queries, stay out of others' tables);
/// ``state_path``, a file that keeps the id and routing table across restarts;
/// keyword-only ``id`` (random by default), ``k`` (bucket size and replication),
/// ``alpha`` (lookup parallelism), ``workers`` (threads of a dedicated runtime;
/// ``None``, the default, shares the process-wide one),
/// ``query_timeout`` (``(floor, ceiling)`` seconds; the timeout follows the
/// measured round trip in between), ``max_in_flight`` (queries awaiting an
/// answer at once; each lookup keeps ``alpha`` in flight) and ``options``, a dict
/// that sets any other field of the core's ``NodeConfig`` by name (flags as
/// ``bool``, counts as ``int``, durations in seconds). ``None`` keeps the core's
/// default; ``dipsea.default_options()`` lists every option with its default, and
/// the core's ``NodeConfig`` docs say what each means. Values out of range raise
/// ``BadInput`` (a ``ValueError``) with the core's reason. Keyword-only
/// ``accept_broadcasts`` says which broadcasts the node delivers and forwards:
/// ``None`` or ``"off"`` none (the default), ``"open"`` any correctly signed one
/// within the per-origin and per-IP rates (``options`` ``broadcast.per_origin.*``,
/// ``broadcast.per_ip.*``), or a list of 32-byte public keys, those origins only.
/// ``network``, a name, makes the node a member of that private network: it tags
/// its messages with the network's id, drops those of other networks (the public
/// DHT's included; counted in ``stats()["foreign_network"]``) and never uses the
/// default routers. ``overlay="one-hop"`` (with a ``network``) makes a one-hop
/// node: every member keeps the full member list (``stats()["members"]``) and a
/// get or put goes straight to the key's ``replicas`` owners (default 3) that the
/// ``partitioner`` names (``"rendezvous"``, the default, ``"ring"``, ``"ring:V"``
/// or ``"xor"``); its ``bootstrap`` addresses are members to join through.
#[pyclass(module = "dipsea", name = "Node", frozen)]
pub struct PyNode {
    /// `None` once closed. The lock is held only to clone or take the `Arc`.
    node: Mutex<Option<Arc<BlockingNode>>>,
}

impl PyNode {
    fn node(&self) -> PyResult<Arc<BlockingNode>> {
        self.node.lock().clone().ok_or_else(closed)
    }
}

#[pymethods]
impl PyNode {
    #[new]
    #[pyo3(signature = (bind = None, bootstrap = None, read_only = false, state_path = None, *, bind6 = None, id = None, k = None, alpha = None, workers = None, query_timeout = None, max_in_flight = None, options = None, no_default_routers = false, accept_broadcasts = None, network = None, overlay = None, partitioner = None, replicas = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        bind: Option<&str>,
        bootstrap: Option<Vec<String>>,
        read_only: bool,
        state_path: Option<PathBuf>,
        bind6: Option<&str>,
        id: Option<&Bound<'_, PyAny>>,
        k: Option<usize>,
        alpha: Option<usize>,
        workers: Option<usize>,
        query_timeout: Option<(f64, f64)>,
        max_in_flight: Option<usize>,
        options: Option<&Bound<'_, PyDict>>,
        no_default_routers: bool,
        accept_broadcasts: Option<&Bound<'_, PyAny>>,
        network: Option<&str>,
        overlay: Option<&str>,
        partitioner: Option<&str>,
        replicas: Option<usize>,
    ) -> PyResult<PyNode> {
        let b = builder(
            bind,
            bind6,
            bootstrap,
            read_only,
            state_path,
            id,
            k,
            alpha,
            workers,
            query_timeout,
            max_in_flight,
            options,
        )?
        .no_default_routers(no_default_routers);
        let b = push::accept_broadcasts(b, accept_broadcasts)?;
        let b = with_network(b, network)?;
        let b = with_overlay(b, overlay, partitioner, replicas)?;
        let node = py.detach(move || b.start_blocking()).map_err(to_py)?;
        Ok(PyNode {
            node: Mutex::new(Some(Arc::new(node))),
        })
    }

    /// Joins (or re-joins) the network now and waits until the bootstrap lookup
    /// ends; returns the number of contacts in the routing table.
    fn bootstrap(&self, py: Python<'_>) -> PyResult<usize> {
        let node = self.node()?;
        detach_in_turn(py, move || node.bootstrap()).map_err(to_py)
    }

    /// Stores ``value`` (at most about 1000 bytes) as a BEP 44 immutable item on the
    /// k nodes closest to its key, keeps re-publishing it, and returns the key:
    /// ``Id.sha1(b"%d:%s" % (len(value), value))``.
    fn put(&self, py: Python<'_>, value: &[u8]) -> PyResult<PyId> {
        let value = value.to_vec();
        let node = self.node()?;
        let result = detach_in_turn(py, move || node.put(&value)).map_err(to_py)?;
        Ok(PyId(result.key))
    }

    /// The value stored under ``key``, or ``None`` if no node has it.
    fn get(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<Bytes>> {
        let key = id_arg(key)?;
        let node = self.node()?;
        let value = detach_in_turn(py, move || node.get(key)).map_err(to_py)?;
        Ok(value.map(Bytes))
    }

    /// Publishes ``value`` as the BEP 44 mutable item of ``keypair`` (and ``salt``,
    /// at most 64 bytes), keeps re-publishing it, and returns the sequence number
    /// stored: ``seq``, or one more than the highest on the network. With ``cas``,
    /// nodes store it only over that sequence number. Raises ``CasMismatch`` (301)
    /// or ``SeqTooOld`` (302) when the nodes refuse it so.
    #[pyo3(signature = (keypair, value, *, salt = None, seq = None, cas = None))]
    fn put_mutable(
        &self,
        py: Python<'_>,
        keypair: PyRef<'_, PyKeypair>,
        value: &[u8],
        salt: Option<Vec<u8>>,
        seq: Option<i64>,
        cas: Option<i64>,
    ) -> PyResult<i64> {
        let keypair = keypair.0.clone();
        let value = value.to_vec();
        let options = put_options(salt, seq, cas);
        let node = self.node()?;
        detach_in_turn(py, move || node.put_mutable(&keypair, &value, options))
            .map(|stored| stored.seq)
            .map_err(to_py)
    }

    /// The newest verified version of the mutable item of ``public_key`` (32 bytes)
    /// and ``salt``, at least ``min_seq``, or ``None`` if no node has one.
    #[pyo3(signature = (public_key, *, salt = None, min_seq = None))]
    fn get_mutable(
        &self,
        py: Python<'_>,
        public_key: &[u8],
        salt: Option<Vec<u8>>,
        min_seq: Option<i64>,
    ) -> PyResult<Option<PyMutableItem>> {
        let key = public_key_arg(public_key)?;
        let salt = salt.unwrap_or_default();
        let node = self.node()?;
        let item =
            detach_in_turn(py, move || node.get_mutable(&key, &salt, min_seq)).map_err(to_py)?;
        Ok(item.map(PyMutableItem))
    }

    /// Broadcasts ``payload`` (at most 1,024 bytes), signed by ``keypair``, to every
    /// node that accepts broadcasts of its public key (``accept_broadcasts``), or,
    /// with ``prefix``, to every such node whose id starts with it (a key-range
    /// multicast): hex digits as ``str`` (4 bits each, ``"3a"``) or ``bytes`` (8
    /// bits each), cut to its first ``prefix_bits`` bits if given. ``seq`` numbers
    /// the broadcast for the receivers' duplicate check (a later one needs a higher
    /// number); ``None`` takes the milliseconds since 1970, or one more than the
    /// last automatic number of this process if that is higher. Returns how many
    /// nodes this node handed it to (0: none in the range is known to accept the
    /// extension). This node does not deliver its own broadcast to itself.
    #[pyo3(signature = (keypair, payload, *, seq = None, prefix = None, prefix_bits = None))]
    fn broadcast(
        &self,
        py: Python<'_>,
        keypair: PyRef<'_, PyKeypair>,
        payload: &[u8],
        seq: Option<i64>,
        prefix: Option<&Bound<'_, PyAny>>,
        prefix_bits: Option<usize>,
    ) -> PyResult<usize> {
        let outgoing = Outgoing::new(&keypair, payload, seq, prefix, prefix_bits)?;
        let node = self.node()?;
        py.detach(move || outgoing.send_blocking(&node))
            .map_err(to_py)
    }

    /// A receiver of the broadcasts this node delivers from now on: a blocking
    /// iterator of ``Broadcast`` items and a context manager (see ``Broadcasts``).
    fn broadcasts(&self) -> PyResult<PyBroadcasts> {
        let rx = self.node()?.broadcasts();
        Ok(PyBroadcasts(push::Feed::new(BroadcastSource::new(rx))))
    }

    /// Subscribes to the BEP 44 mutable item of ``public_key`` (32 bytes) and
    /// ``salt``: the nodes storing it push each newer version. Waits for the lookup
    /// that finds them, then returns a ``Subscription``, a blocking iterator of
    /// verified ``MutableItem`` versions (the current one first, when a storing node
    /// has one) and a context manager; closing it ends the subscription. Raises
    /// ``NoRoute`` or ``Timeout`` when no storing node that speaks the extension was
    /// found, ``Busy`` past the node's subscription limit, ``BadInput`` for a salt
    /// over 64 bytes.
    #[pyo3(signature = (public_key, *, salt = None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        public_key: &[u8],
        salt: Option<Vec<u8>>,
    ) -> PyResult<PySubscription> {
        let key = public_key_arg(public_key)?;
        let node = self.node()?;
        let subscription = py
            .detach(move || {
                node.runtime()
                    .block_on(node.handle().subscribe(key, salt.as_deref()))
            })
            .map_err(to_py)?;
        Ok(PySubscription(push::Feed::new(
            SubscriptionSource::Running(subscription),
        )))
    }

    /// Subscribes to the peers of ``info_hash``: the nodes closest to it (where
    /// ``announce`` stores) push each peer announced to them. Waits for the lookup
    /// that finds them, then returns a ``PeerSubscription``, a blocking iterator of
    /// ``(host, port)`` peers, each once (those stored already first), and a
    /// context manager; closing it ends the subscription. Raises ``NoRoute`` or
    /// ``Timeout`` when no storing node that speaks the extension was found,
    /// ``Busy`` past the node's subscription limit.
    fn subscribe_peers(
        &self,
        py: Python<'_>,
        info_hash: &Bound<'_, PyAny>,
    ) -> PyResult<PyPeerSubscription> {
        let info_hash = id_arg(info_hash)?;
        let node = self.node()?;
        let subscription = py
            .detach(move || {
                node.runtime()
                    .block_on(node.handle().subscribe_peers(info_hash))
            })
            .map_err(to_py)?;
        Ok(PyPeerSubscription(push::Feed::new(PeersSource::Running(
            subscription,
        ))))
    }

    /// Announces that this host serves ``info_hash`` on TCP/UDP ``port`` (``None``:
    /// the node's own UDP port), as a seed (has the whole torrent) if ``seed``;
    /// returns how many nodes acknowledged.
    #[pyo3(signature = (info_hash, port = None, *, seed = false))]
    fn announce(
        &self,
        py: Python<'_>,
        info_hash: &Bound<'_, PyAny>,
        port: Option<u16>,
        seed: bool,
    ) -> PyResult<usize> {
        let info_hash = id_arg(info_hash)?;
        let node = self.node()?;
        detach_in_turn(py, move || node.announce_as(info_hash, port, seed)).map_err(to_py)
    }

    /// Estimated seeds and peers of ``info_hash`` (BEP 33 scrape), a ``Scrape``.
    fn scrape(&self, py: Python<'_>, info_hash: &Bound<'_, PyAny>) -> PyResult<PyScrape> {
        let info_hash = id_arg(info_hash)?;
        let node = self.node()?;
        let estimate = detach_in_turn(py, move || node.scrape(info_hash)).map_err(to_py)?;
        Ok(PyScrape(estimate))
    }

    /// Info-hashes stored by the nodes around ``target`` (BEP 51), a ``Samples``.
    fn sample_infohashes(&self, py: Python<'_>, target: &Bound<'_, PyAny>) -> PyResult<PySamples> {
        let target = id_arg(target)?;
        let node = self.node()?;
        let samples = detach_in_turn(py, move || node.sample_infohashes(target)).map_err(to_py)?;
        Ok(PySamples(samples))
    }

    /// The peers announced for ``info_hash``, as ``(host, port)`` (possibly none).
    fn get_peers(&self, py: Python<'_>, info_hash: &Bound<'_, PyAny>) -> PyResult<Vec<PyAddr>> {
        let info_hash = id_arg(info_hash)?;
        let node = self.node()?;
        let peers = detach_in_turn(py, move || node.get_peers(info_hash)).map_err(to_py)?;
        Ok(peers.into_iter().map(addr).collect())
    }

    /// The k nodes closest to ``target`` in the network, nearest first, as
    /// ``(id, (host, port))``.
    fn find_node(
        &self,
        py: Python<'_>,
        target: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<(PyId, PyAddr)>> {
        let target = id_arg(target)?;
        let node = self.node()?;
        let nodes = detach_in_turn(py, move || node.find_node(target)).map_err(to_py)?;
        Ok(nodes.into_iter().map(contact).collect())
    }

    /// Pings ``(host, port)`` and returns the node id that answered.
    fn ping(&self, py: Python<'_>, address: PyAddr) -> PyResult<PyId> {
        let to = socket_addr(&address)?;
        let node = self.node()?;
        let id = detach_in_turn(py, move || node.ping(to)).map_err(to_py)?;
        Ok(PyId(id))
    }

    /// Stops re-publishing the item ``key`` (it then expires from the network);
    /// whether it was published by this node.
    fn unpublish(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = id_arg(key)?;
        Ok(self.node()?.unpublish(key))
    }

    /// A snapshot of the routing table: ``[(id, (host, port)), ...]``.
    fn routing_table(&self) -> PyResult<Vec<(PyId, PyAddr)>> {
        Ok(self
            .node()?
            .routing_table()
            .into_iter()
            .map(contact)
            .collect())
    }

    /// Counters: packets, bytes, queries by method, operations, timeouts, table and
    /// store sizes, every drop and refusal reason (``malformed``, ``oversized``,
    /// ``rate_limited_ip``, ``rate_limited_global``, ``bad_token``, ``over_quota``,
    /// ``refused``), and the BEP 42 ``external_ip`` and ``id_conforms`` (None until
    /// known).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.node()?.stats())
    }

    /// The bound UDP address, ``(host, port)``.
    #[getter]
    fn address(&self) -> PyResult<PyAddr> {
        Ok(addr(self.node()?.local_addr()))
    }

    /// The bound IPv6 address of a dual-stack node (BEP 32), ``(host, port)``;
    /// ``None`` with one socket.
    #[getter]
    fn address6(&self) -> PyResult<Option<PyAddr>> {
        Ok(self.node()?.local_addr6().map(addr))
    }

    /// The node id.
    #[getter]
    fn id(&self) -> PyResult<PyId> {
        Ok(PyId(self.node()?.id()))
    }

    /// Whether ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.node.lock().is_none()
    }

    /// Stops the node: saves the routing table (with ``state_path``), fails the
    /// operations still running with ``Shutdown``, stops its threads and frees its
    /// port. Calling it again does nothing.
    fn close(&self, py: Python<'_>) {
        let node = self.node.lock().take();
        if let Some(node) = node {
            py.detach(move || {
                node.shutdown();
                // The runtime and socket go with the last reference; a thread still
                // inside a call drops its own as soon as that call fails.
                drop(node);
            });
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        match self.node.lock().as_ref() {
            Some(node) => format!(
                "<dipsea.Node id={} address={}>",
                node.id(),
                node.local_addr()
            ),
            None => "<dipsea.Node closed>".to_string(),
        }
    }
}

/// A running DHT node with an asyncio API.
///
/// Built like ``Node``, with the same arguments (it binds at once), inside or
/// outside a running event loop.
/// The network methods return ``asyncio.Future``s of the running loop and must be
/// called while it runs (else ``RuntimeError``); the operation starts at the call.
/// Cancelling a future abandons the wait (the operation ends on its own in the
/// engine). Many calls may be in flight at once, from one loop or several:
/// ``await asyncio.gather(*(node.get(k) for k in keys))``.
/// Use ``async with`` or ``await close()`` to stop it.
#[pyclass(module = "dipsea", name = "AsyncNode", frozen)]
pub struct PyAsyncNode {
    /// `None` once closed. The lock is held only to clone or take the handle.
    node: Mutex<Option<NodeHandle>>,
}

impl PyAsyncNode {
    fn node(&self) -> PyResult<NodeHandle> {
        self.node.lock().clone().ok_or_else(closed)
    }
}

impl Drop for PyAsyncNode {
    fn drop(&mut self) {
        // A node dropped without close(): stop its tasks so they release the socket.
        if let Some(node) = self.node.get_mut().take() {
            get_runtime().spawn(async move { node.shutdown().await });
        }
    }
}

#[pymethods]
impl PyAsyncNode {
    #[new]
    #[pyo3(signature = (bind = None, bootstrap = None, read_only = false, state_path = None, *, bind6 = None, id = None, k = None, alpha = None, workers = None, query_timeout = None, max_in_flight = None, options = None, no_default_routers = false, accept_broadcasts = None, network = None, overlay = None, partitioner = None, replicas = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        bind: Option<&str>,
        bootstrap: Option<Vec<String>>,
        read_only: bool,
        state_path: Option<PathBuf>,
        bind6: Option<&str>,
        id: Option<&Bound<'_, PyAny>>,
        k: Option<usize>,
        alpha: Option<usize>,
        workers: Option<usize>,
        query_timeout: Option<(f64, f64)>,
        max_in_flight: Option<usize>,
        options: Option<&Bound<'_, PyDict>>,
        no_default_routers: bool,
        accept_broadcasts: Option<&Bound<'_, PyAny>>,
        network: Option<&str>,
        overlay: Option<&str>,
        partitioner: Option<&str>,
        replicas: Option<usize>,
    ) -> PyResult<PyAsyncNode> {
        let b = builder(
            bind,
            bind6,
            bootstrap,
            read_only,
            state_path,
            id,
            k,
            alpha,
            workers,
            query_timeout,
            max_in_flight,
            options,
        )?
        .no_default_routers(no_default_routers);
        let b = push::accept_broadcasts(b, accept_broadcasts)?;
        let b = with_network(b, network)?;
        let b = with_overlay(b, overlay, partitioner, replicas)?;
        let node = py
            .detach(move || get_runtime().block_on(b.spawn()))
            .map_err(to_py)?;
        Ok(PyAsyncNode {
            node: Mutex::new(Some(node)),
        })
    }

    /// Joins (or re-joins) the network; resolves to the routing table size.
    fn bootstrap<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let node = self.node()?;
        spawn(py, async move { node.bootstrap().await })
    }

    /// Stores ``value`` as a BEP 44 immutable item; resolves to its key.
    fn put<'py>(&self, py: Python<'py>, value: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        let value = value.to_vec();
        let node = self.node()?;
        spawn(py, async move { Ok(PyId(node.put(&value).await?.key)) })
    }

    /// Resolves to the value stored under ``key``, or ``None``.
    fn get<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let key = id_arg(key)?;
        let node = self.node()?;
        spawn(py, async move { Ok(node.get(key).await?.map(Bytes)) })
    }

    /// ``Node.put_mutable`` as an awaitable: resolves to the sequence number stored.
    #[pyo3(signature = (keypair, value, *, salt = None, seq = None, cas = None))]
    fn put_mutable<'py>(
        &self,
        py: Python<'py>,
        keypair: PyRef<'py, PyKeypair>,
        value: &[u8],
        salt: Option<Vec<u8>>,
        seq: Option<i64>,
        cas: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let keypair = keypair.0.clone();
        let value = value.to_vec();
        let options = put_options(salt, seq, cas);
        let node = self.node()?;
        spawn(py, async move {
            Ok(node.put_mutable(&keypair, &value, options).await?.seq)
        })
    }

    /// ``Node.get_mutable`` as an awaitable: resolves to a ``MutableItem`` or ``None``.
    #[pyo3(signature = (public_key, *, salt = None, min_seq = None))]
    fn get_mutable<'py>(
        &self,
        py: Python<'py>,
        public_key: &[u8],
        salt: Option<Vec<u8>>,
        min_seq: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = public_key_arg(public_key)?;
        let salt = salt.unwrap_or_default();
        let node = self.node()?;
        spawn(py, async move {
            Ok(node
                .get_mutable(&key, &salt, min_seq)
                .await?
                .map(PyMutableItem))
        })
    }

    /// ``Node.broadcast`` as an awaitable: resolves to how many nodes this node
    /// handed the broadcast to.
    #[pyo3(signature = (keypair, payload, *, seq = None, prefix = None, prefix_bits = None))]
    fn broadcast<'py>(
        &self,
        py: Python<'py>,
        keypair: PyRef<'py, PyKeypair>,
        payload: &[u8],
        seq: Option<i64>,
        prefix: Option<&Bound<'py, PyAny>>,
        prefix_bits: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let outgoing = Outgoing::new(&keypair, payload, seq, prefix, prefix_bits)?;
        let node = self.node()?;
        spawn(py, outgoing.send(node))
    }

    /// A receiver of the broadcasts this node delivers from now on: an async
    /// iterator of ``Broadcast`` items and an async context manager (see
    /// ``AsyncBroadcasts``).
    fn broadcasts(&self) -> PyResult<PyAsyncBroadcasts> {
        let rx = self.node()?.broadcasts();
        Ok(PyAsyncBroadcasts(push::AsyncFeed::new(
            BroadcastSource::new(rx),
        )))
    }

    /// ``Node.subscribe`` for asyncio: returns an ``AsyncSubscription`` at once, an
    /// async iterator of ``MutableItem`` versions and an async context manager; it
    /// subscribes at ``__aenter__`` or the first ``__anext__``, which raise the
    /// errors ``Node.subscribe`` raises.
    #[pyo3(signature = (public_key, *, salt = None))]
    fn subscribe(&self, public_key: &[u8], salt: Option<Vec<u8>>) -> PyResult<PyAsyncSubscription> {
        let public_key = public_key_arg(public_key)?;
        let node = self.node()?;
        Ok(PyAsyncSubscription(push::AsyncFeed::new(
            SubscriptionSource::Idle {
                node,
                public_key,
                salt,
            },
        )))
    }

    /// ``Node.subscribe_peers`` for asyncio: returns an ``AsyncPeerSubscription`` at
    /// once, an async iterator of ``(host, port)`` peers and an async context
    /// manager; it subscribes at ``__aenter__`` or the first ``__anext__``, which
    /// raise the errors ``Node.subscribe_peers`` raises.
    fn subscribe_peers(&self, info_hash: &Bound<'_, PyAny>) -> PyResult<PyAsyncPeerSubscription> {
        let info_hash = id_arg(info_hash)?;
        let node = self.node()?;
        Ok(PyAsyncPeerSubscription(push::AsyncFeed::new(
            PeersSource::Idle { node, info_hash },
        )))
    }

    /// Announces ``info_hash`` on ``port`` (``None``: the UDP port), as a seed if
    /// ``seed``; resolves to how many nodes acknowledged.
    #[pyo3(signature = (info_hash, port = None, *, seed = false))]
    fn announce<'py>(
        &self,
        py: Python<'py>,
        info_hash: &Bound<'py, PyAny>,
        port: Option<u16>,
        seed: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let info_hash = id_arg(info_hash)?;
        let node = self.node()?;
        spawn(
            py,
            async move { node.announce_as(info_hash, port, seed).await },
        )
    }

    /// ``Node.scrape`` as an awaitable: resolves to a ``Scrape``.
    fn scrape<'py>(
        &self,
        py: Python<'py>,
        info_hash: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let info_hash = id_arg(info_hash)?;
        let node = self.node()?;
        spawn(
            py,
            async move { Ok(PyScrape(node.scrape(info_hash).await?)) },
        )
    }

    /// ``Node.sample_infohashes`` as an awaitable: resolves to a ``Samples``.
    fn sample_infohashes<'py>(
        &self,
        py: Python<'py>,
        target: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let target = id_arg(target)?;
        let node = self.node()?;
        spawn(py, async move {
            Ok(PySamples(node.sample_infohashes(target).await?))
        })
    }

    /// Resolves to the peers announced for ``info_hash``, as ``(host, port)``.
    fn get_peers<'py>(
        &self,
        py: Python<'py>,
        info_hash: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let info_hash = id_arg(info_hash)?;
        let node = self.node()?;
        spawn(py, async move {
            let peers = node.get_peers(info_hash).await?;
            Ok(peers.into_iter().map(addr).collect::<Vec<_>>())
        })
    }

    /// Resolves to the k nodes closest to ``target``, as ``(id, (host, port))``.
    fn find_node<'py>(
        &self,
        py: Python<'py>,
        target: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let target = id_arg(target)?;
        let node = self.node()?;
        spawn(py, async move {
            let nodes = node.find_node(target).await?;
            Ok(nodes.into_iter().map(contact).collect::<Vec<_>>())
        })
    }

    /// Pings ``(host, port)``; resolves to the node id that answered.
    fn ping<'py>(&self, py: Python<'py>, address: PyAddr) -> PyResult<Bound<'py, PyAny>> {
        let to = socket_addr(&address)?;
        let node = self.node()?;
        spawn(py, async move { Ok(PyId(node.ping(to).await?)) })
    }

    /// Stops re-publishing the item ``key``; whether it was published here.
    fn unpublish(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let key = id_arg(key)?;
        Ok(self.node()?.unpublish(key))
    }

    /// A snapshot of the routing table: ``[(id, (host, port)), ...]``.
    fn routing_table(&self) -> PyResult<Vec<(PyId, PyAddr)>> {
        Ok(self
            .node()?
            .routing_table()
            .into_iter()
            .map(contact)
            .collect())
    }

    /// Counters, as ``Node.stats()``.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.node()?.stats())
    }

    /// The bound UDP address, ``(host, port)``.
    #[getter]
    fn address(&self) -> PyResult<PyAddr> {
        Ok(addr(self.node()?.local_addr()))
    }

    /// The bound IPv6 address of a dual-stack node (BEP 32), ``(host, port)``;
    /// ``None`` with one socket.
    #[getter]
    fn address6(&self) -> PyResult<Option<PyAddr>> {
        Ok(self.node()?.local_addr6().map(addr))
    }

    /// The node id.
    #[getter]
    fn id(&self) -> PyResult<PyId> {
        Ok(PyId(self.node()?.id()))
    }

    /// Whether ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.node.lock().is_none()
    }

    /// Stops the node (operations still running fail with ``Shutdown``) and frees
    /// its port; the awaitable resolves once it has stopped. Calling it again does
    /// nothing. New calls fail at once, even before the awaitable is awaited.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let node = self.node.lock().take();
        spawn(py, async move {
            if let Some(node) = node {
                node.shutdown().await;
            }
            Ok::<_, dipsea::Error>(())
        })
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let node = slf.unbind();
        spawn(py, async move { Ok::<_, dipsea::Error>(node) })
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _args: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let node = self.node.lock().take();
        spawn(py, async move {
            if let Some(node) = node {
                node.shutdown().await;
            }
            Ok::<_, dipsea::Error>(false)
        })
    }

    fn __repr__(&self) -> String {
        match self.node.lock().as_ref() {
            Some(node) => format!(
                "<dipsea.AsyncNode id={} address={}>",
                node.id(),
                node.local_addr()
            ),
            None => "<dipsea.AsyncNode closed>".to_string(),
        }
    }
}

/// Stops the runtime that blocking `Node`s share, at interpreter exit (registered
/// with `atexit` when the module loads): by then only daemon threads still run, and
/// the runtime's threads end before the interpreter is torn down. A `Node` still open
/// saves its state when it is dropped; its calls fail from then on.
#[pyfunction]
pub fn _shutdown_runtime(py: Python<'_>) -> bool {
    py.detach(dipsea::node::udp::shutdown_shared_runtime)
}
