//! Broadcast and key-range multicast from Python: the arguments of
//! `Node.broadcast`, the `accept_broadcasts` option, `dipsea.Broadcast`, and the
//! receivers `Broadcasts` (blocking iterator) and `AsyncBroadcasts` (async iterator).
//!
//! A receiver is a [`Source`] of items behind one of two wrappers: [`Feed`] waits on
//! the calling thread without the GIL, in slices of [`SLICE`] so that Ctrl-C and
//! `close()` from another thread are seen; [`AsyncFeed`] waits in the asyncio bridge
//! (`crate::bridge::spawn_py`). The [`feeds!`] macro makes the pair of Python classes
//! for one source, so other pushes (subscriptions) reuse them.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dipsea::push::{AcceptPolicy, Broadcast, KeyRange, SigningKey};
use dipsea::{BlockingNode, Error, Id, NodeBuilder, NodeHandle, ID_LEN};
use parking_lot::Mutex;
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use pyo3_async_runtimes::tokio::get_runtime;
use tokio::sync::broadcast::error::RecvError;

use crate::convert::seconds;
use crate::errors::{to_py, Timeout};
use crate::keypair::PyKeypair;
use crate::mutable::public_key_arg;

/// A broadcast delivered to this node: ``origin`` (the 32-byte public key that
/// signed it), ``seq`` (the origin's sequence number), ``payload`` (bytes), the key
/// range it was sent to (``prefix``, ``prefix_bits`` and ``range``, its text form)
/// and ``signature`` (64 bytes, checked before delivery).
#[pyclass(module = "dipsea", name = "Broadcast", frozen)]
pub struct PyBroadcast(pub Broadcast);

#[pymethods]
impl PyBroadcast {
    /// The origin's ed25519 public key, 32 bytes.
    #[getter]
    fn origin<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.origin)
    }

    /// The origin's sequence number for this broadcast.
    #[getter]
    fn seq(&self) -> i64 {
        self.0.seq
    }

    /// The message.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.payload)
    }

    /// The key range's prefix: its first ``ceil(prefix_bits / 8)`` bytes (``b""``
    /// for a broadcast to every node).
    #[getter]
    fn prefix<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let bytes = usize::from(self.0.range.bits()).div_ceil(8);
        PyBytes::new(py, &self.0.range.prefix().as_bytes()[..bytes])
    }

    /// How many leading bits of ``prefix`` name the range (0: every node).
    #[getter]
    fn prefix_bits(&self) -> u8 {
        self.0.range.bits()
    }

    /// The range as text: hex digits of the prefix, ``/bits`` when the bits are not
    /// a whole number of digits, ``"*"`` for every node.
    #[getter]
    fn range(&self) -> String {
        self.0.range.to_string()
    }

    /// The origin's ed25519 signature over seq, range and payload, 64 bytes.
    #[getter]
    fn signature<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.sig)
    }

    fn __repr__(&self) -> String {
        format!(
            "Broadcast(origin='{}', seq={}, range='{}', payload={} bytes)",
            dipsea::keypair::to_hex(&self.0.origin),
            self.0.seq,
            self.0.range,
            self.0.payload.len()
        )
    }
}

/// One broadcast to send, its arguments checked: `Node.broadcast` and
/// `AsyncNode.broadcast` build it with the GIL, then send it without.
pub struct Outgoing {
    key: SigningKey,
    seq: i64,
    range: KeyRange,
    payload: Vec<u8>,
}

impl Outgoing {
    /// Checks the arguments of a broadcast call. `seq` `None`:
    /// [`dipsea::push::next_seq`] (milliseconds since 1970, increasing within the
    /// process).
    pub fn new(
        keypair: &PyKeypair,
        payload: &[u8],
        seq: Option<i64>,
        prefix: Option<&Bound<'_, PyAny>>,
        prefix_bits: Option<usize>,
    ) -> PyResult<Outgoing> {
        Ok(Outgoing {
            key: SigningKey::from_bytes(&keypair.0.seed()),
            seq: seq.unwrap_or_else(dipsea::push::next_seq),
            range: key_range(prefix, prefix_bits)?,
            payload: payload.to_vec(),
        })
    }

    /// Sends it from a running node; how many hand-offs it sent.
    pub async fn send(self, node: NodeHandle) -> Result<usize, Error> {
        node.broadcast(&self.key, self.seq, self.range, &self.payload)
            .await
    }

    /// Sends it from a blocking node (call without the GIL).
    pub fn send_blocking(self, node: &BlockingNode) -> Result<usize, Error> {
        node.broadcast(&self.key, self.seq, self.range, &self.payload)
    }
}

fn bad_input(message: String) -> PyErr {
    to_py(Error::BadInput(message))
}

/// The key range of `prefix` (hex digits as `str`, 4 bits each, or `bytes`, 8 bits
/// each; `None`: every node), narrowed to its first `prefix_bits` bits if given.
fn key_range(prefix: Option<&Bound<'_, PyAny>>, prefix_bits: Option<usize>) -> PyResult<KeyRange> {
    let Some(prefix) = prefix else {
        return match prefix_bits {
            None | Some(0) => Ok(KeyRange::ALL),
            Some(_) => Err(bad_input("prefix_bits needs a prefix".to_string())),
        };
    };
    let (id, given) = if let Ok(hex) = prefix.cast::<PyString>() {
        let range = KeyRange::from_hex(&hex.to_cow()?).map_err(|e| bad_input(e.to_string()))?;
        (range.prefix(), usize::from(range.bits()))
    } else if let Ok(bytes) = prefix.extract::<&[u8]>() {
        if bytes.len() > ID_LEN {
            return Err(bad_input(format!(
                "a prefix has at most {ID_LEN} bytes, got {}",
                bytes.len()
            )));
        }
        let mut padded = [0u8; ID_LEN];
        padded[..bytes.len()].copy_from_slice(bytes);
        (Id::from_bytes(padded), bytes.len() * 8)
    } else {
        return Err(bad_input(
            "a prefix is hex digits (str) or bytes".to_string(),
        ));
    };
    let bits = prefix_bits.unwrap_or(given);
    if bits > given {
        return Err(bad_input(format!(
            "prefix_bits is {bits}, but the prefix has only {given} bits"
        )));
    }
    KeyRange::new(id, bits).map_err(|e| bad_input(e.to_string()))
}

/// The `accept_broadcasts` option of `Node` and `AsyncNode` applied to `builder`:
/// `None` keeps the default (none accepted), `"off"` accepts none, `"open"` any
/// correctly signed broadcast within the rate limits, and an iterable of 32-byte
/// public keys those of these origins only.
pub fn accept_broadcasts(
    builder: NodeBuilder,
    accept: Option<&Bound<'_, PyAny>>,
) -> PyResult<NodeBuilder> {
    let Some(accept) = accept else {
        return Ok(builder);
    };
    let policy = if let Ok(word) = accept.cast::<PyString>() {
        match &*word.to_cow()? {
            "open" => AcceptPolicy::Open,
            "off" => AcceptPolicy::Off,
            other => {
                return Err(bad_input(format!(
                    "accept_broadcasts is \"open\", \"off\" or a list of public keys, got {other:?}"
                )))
            }
        }
    } else {
        let mut keys = HashSet::new();
        for key in accept.try_iter()? {
            keys.insert(public_key_arg(key?.extract::<&[u8]>()?)?);
        }
        AcceptPolicy::Allowed(keys)
    };
    Ok(builder.configure(move |c| c.broadcast.accept = policy))
}

/// Something that yields items to Python until it ends: the broadcasts a node
/// delivers, or the updates of a subscription.
pub trait Source: Send + 'static {
    /// What it yields (a Python class).
    type Item: for<'py> IntoPyObject<'py> + Send + 'static;
    /// Starts it if it has not started yet (a subscription's lookup). Cancel safe:
    /// dropped before it completes, it starts again next time.
    fn start(&mut self) -> impl Future<Output = Result<(), Error>> + Send {
        async { Ok(()) }
    }
    /// The next item (after [`start`](Self::start)), or `None` once it has ended.
    /// Cancel safe: dropped before it completes, no item is lost.
    fn next(&mut self) -> impl Future<Output = Result<Option<Self::Item>, Error>> + Send;
}

/// The broadcasts a node delivers, from the moment the receiver was made.
pub struct BroadcastSource {
    rx: tokio::sync::broadcast::Receiver<Broadcast>,
}

impl BroadcastSource {
    /// The node's broadcasts from now on.
    pub fn new(rx: tokio::sync::broadcast::Receiver<Broadcast>) -> BroadcastSource {
        BroadcastSource { rx }
    }
}

impl Source for BroadcastSource {
    type Item = PyBroadcast;

    async fn next(&mut self) -> Result<Option<PyBroadcast>, Error> {
        loop {
            match self.rx.recv().await {
                Ok(b) => return Ok(Some(PyBroadcast(b))),
                // Fell behind: the oldest were skipped; go on with the next.
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Ok(None),
            }
        }
    }
}

/// Longest wait without the GIL in one go: a blocking `get` checks for signals
/// (Ctrl-C) and a `close()` from another thread this often.
const SLICE: Duration = Duration::from_millis(100);

/// A blocking receiver over a [`Source`]: `None` once closed or ended.
pub struct Feed<S> {
    source: Mutex<Option<S>>,
}

/// How one slice of waiting ended.
enum Wait<T> {
    Item(T),
    Ended,
    Pending,
    Failed(Error),
}

impl<S: Source> Feed<S> {
    /// A receiver of `source`.
    pub fn new(source: S) -> Feed<S> {
        Feed {
            source: Mutex::new(Some(source)),
        }
    }

    /// The next item; `None` once ended or closed. Waits at most `timeout` seconds
    /// (`None`: until one comes), then raises `dipsea.Timeout`.
    pub fn get(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<S::Item>> {
        let deadline = match timeout {
            Some(t) => Some(Instant::now() + seconds(t)?),
            None => None,
        };
        loop {
            let slice = deadline.map_or(SLICE, |d| {
                d.saturating_duration_since(Instant::now()).min(SLICE)
            });
            let waited = py.detach(|| {
                let mut source = self.source.lock();
                let Some(s) = source.as_mut() else {
                    return Wait::Ended;
                };
                // The timer is made inside the runtime, which it needs.
                // Starting is not cut into slices: it would start over each time.
                let next = get_runtime().block_on(async {
                    s.start().await?;
                    match tokio::time::timeout(slice, s.next()).await {
                        Ok(next) => next.map(Some),
                        Err(_) => Ok(None),
                    }
                });
                match next {
                    Ok(Some(Some(item))) => Wait::Item(item),
                    Ok(Some(None)) => {
                        *source = None;
                        Wait::Ended
                    }
                    Ok(None) => Wait::Pending,
                    Err(e) => Wait::Failed(e),
                }
            });
            match waited {
                Wait::Item(item) => return Ok(Some(item)),
                Wait::Ended => return Ok(None),
                Wait::Failed(e) => return Err(to_py(e)),
                Wait::Pending => {
                    py.check_signals()?;
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(Timeout::new_err(format!(
                            "nothing arrived within {} s",
                            timeout.unwrap_or_default()
                        )));
                    }
                }
            }
        }
    }

    /// Stops receiving (waits for a `get` of another thread to see it, at most one
    /// slice). Calling it again does nothing.
    pub fn close(&self, py: Python<'_>) {
        let source = py.detach(|| self.source.lock().take());
        drop(source);
    }

    /// Whether it is closed or has ended.
    pub fn closed(&self) -> bool {
        self.source.lock().is_none()
    }
}

/// An asyncio receiver over a [`Source`]: each `__anext__` is one bridged future.
pub struct AsyncFeed<S> {
    source: Arc<tokio::sync::Mutex<Option<S>>>,
    /// Set by `close()`; a pending `__anext__` ends with `StopAsyncIteration`.
    closing: tokio::sync::watch::Sender<bool>,
}

impl<S: Source> AsyncFeed<S> {
    /// A receiver of `source`.
    pub fn new(source: S) -> AsyncFeed<S> {
        AsyncFeed {
            source: Arc::new(tokio::sync::Mutex::new(Some(source))),
            closing: tokio::sync::watch::Sender::new(false),
        }
    }

    /// An awaitable of the next item; it raises `StopAsyncIteration` once the source
    /// has ended or `close()` was called.
    pub fn next<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let source = self.source.clone();
        let mut closing = self.closing.subscribe();
        crate::bridge::spawn_py(py, async move {
            let mut slot = source.lock().await;
            let ended = || PyStopAsyncIteration::new_err(());
            if *closing.borrow_and_update() {
                *slot = None;
            }
            let Some(s) = slot.as_mut() else {
                return Err(ended());
            };
            let next = async {
                s.start().await?;
                s.next().await
            };
            tokio::select! {
                item = next => match item {
                    Ok(Some(item)) => Ok(item),
                    Ok(None) => {
                        *slot = None;
                        Err(ended())
                    }
                    Err(e) => Err(to_py(e)),
                },
                _ = closing.wait_for(|c| *c) => {
                    *slot = None;
                    Err(ended())
                }
            }
        })
    }

    /// An awaitable that starts the source (a subscription's lookup; its errors
    /// raised) and resolves to `this`, for `__aenter__`.
    pub fn enter<'py, T>(&self, py: Python<'py>, this: Py<T>) -> PyResult<Bound<'py, PyAny>>
    where
        Py<T>: for<'a> IntoPyObject<'a> + Send + 'static,
    {
        let source = self.source.clone();
        crate::bridge::spawn(py, async move {
            if let Some(s) = source.lock().await.as_mut() {
                s.start().await?;
            }
            Ok(this)
        })
    }

    /// Stops receiving: a pending `__anext__` raises `StopAsyncIteration`.
    pub fn close(&self) {
        self.closing.send_replace(true);
        if let Ok(mut slot) = self.source.try_lock() {
            *slot = None;
        }
    }

    /// Whether `close()` was called or the source has ended.
    pub fn closed(&self) -> bool {
        *self.closing.borrow()
            || self
                .source
                .try_lock()
                .map(|slot| slot.is_none())
                .unwrap_or(false)
    }
}

/// Defines a blocking and an asyncio receiver class over one [`Source`]: the
/// blocking one an iterator and context manager with `get(timeout=)`, the asyncio
/// one an async iterator and async context manager.
macro_rules! feeds {
    (
        $(#[doc = $doc:literal])* $blocking:ident, $name:literal,
        $(#[doc = $adoc:literal])* $asyncio:ident, $aname:literal,
        $source:ty, $item:ty
    ) => {
        $(#[doc = $doc])*
        #[pyclass(module = "dipsea", name = $name, frozen)]
        pub struct $blocking(pub $crate::push::Feed<$source>);

        #[pymethods]
        impl $blocking {
            /// The next item, waiting at most ``timeout`` seconds (``None``: as long
            /// as it takes; ``0``: only what has arrived), else ``dipsea.Timeout``
            /// (a ``TimeoutError``); ``None`` once closed or the node has stopped.
            #[pyo3(signature = (timeout = None))]
            fn get(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<$item>> {
                self.0.get(py, timeout)
            }

            /// Stops receiving; iteration ends. Calling it again does nothing.
            fn close(&self, py: Python<'_>) {
                self.0.close(py)
            }

            /// Whether it is closed or has ended.
            #[getter]
            fn closed(&self) -> bool {
                self.0.closed()
            }

            fn __iter__(slf: Py<Self>) -> Py<Self> {
                slf
            }

            fn __next__(&self, py: Python<'_>) -> PyResult<Option<$item>> {
                self.0.get(py, None)
            }

            fn __enter__(slf: Py<Self>) -> Py<Self> {
                slf
            }

            #[pyo3(signature = (*_args))]
            fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
                self.0.close(py);
                false
            }
        }

        $(#[doc = $adoc])*
        #[pyclass(module = "dipsea", name = $aname, frozen)]
        pub struct $asyncio(pub $crate::push::AsyncFeed<$source>);

        #[pymethods]
        impl $asyncio {
            /// Stops receiving: a pending ``__anext__`` raises
            /// ``StopAsyncIteration``. Calling it again does nothing.
            fn close(&self) {
                self.0.close()
            }

            /// Whether it is closed or has ended.
            #[getter]
            fn closed(&self) -> bool {
                self.0.closed()
            }

            fn __aiter__(slf: Py<Self>) -> Py<Self> {
                slf
            }

            fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                self.0.next(py)
            }

            fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
                let py = slf.py();
                let feed = slf.get();
                feed.0.enter(py, slf.clone().unbind())
            }

            #[pyo3(signature = (*_args))]
            fn __aexit__<'py>(
                &self,
                py: Python<'py>,
                _args: &Bound<'py, pyo3::types::PyTuple>,
            ) -> PyResult<Bound<'py, PyAny>> {
                self.0.close();
                crate::bridge::spawn_py(py, async move { Ok(false) })
            }
        }
    };
}

feeds!(
    /// The broadcasts a ``Node`` delivers from the moment ``Node.broadcasts()``
    /// made this receiver, each once, as ``Broadcast`` items: a blocking iterator
    /// (``for b in node.broadcasts():``) that ends when the node is closed or
    /// ``close()`` is called, a context manager that closes it, and
    /// ``get(timeout=)``. Waiting releases the GIL. Up to 1024 broadcasts wait here
    /// unread; a receiver further behind skips the oldest.
    PyBroadcasts, "Broadcasts",
    /// The broadcasts an ``AsyncNode`` delivers from the moment
    /// ``AsyncNode.broadcasts()`` made this receiver, as ``Broadcast`` items: an
    /// async iterator (``async for b in node.broadcasts():``) that ends when the
    /// node is closed or ``close()`` is called, and an async context manager that
    /// closes it. Up to 1024 broadcasts wait here unread; a receiver further behind
    /// skips the oldest.
    PyAsyncBroadcasts, "AsyncBroadcasts",
    BroadcastSource, PyBroadcast
);

/// The versions of one mutable item a subscription yields; an `AsyncNode`'s starts
/// (runs its lookup) on the first `__anext__` or `__aenter__`.
pub enum SubscriptionSource {
    /// Not subscribed yet.
    Idle {
        node: NodeHandle,
        public_key: [u8; dipsea::keypair::PUBLIC_KEY_LEN],
        salt: Option<Vec<u8>>,
    },
    /// Subscribed.
    Running(dipsea::Subscription),
}

impl Source for SubscriptionSource {
    type Item = crate::mutable::PyMutableItem;

    async fn start(&mut self) -> Result<(), Error> {
        if let SubscriptionSource::Idle {
            node,
            public_key,
            salt,
        } = self
        {
            let subscription = node.subscribe(*public_key, salt.as_deref()).await?;
            *self = SubscriptionSource::Running(subscription);
        }
        Ok(())
    }

    async fn next(&mut self) -> Result<Option<Self::Item>, Error> {
        match self {
            SubscriptionSource::Running(subscription) => {
                Ok(subscription.next().await.map(crate::mutable::PyMutableItem))
            }
            SubscriptionSource::Idle { .. } => Err(Error::Internal(
                "a subscription was read before it started".to_string(),
            )),
        }
    }
}

feeds!(
    /// A subscription to one mutable item (``Node.subscribe``): each verified new
    /// version, once, as a ``MutableItem`` (the current one first, when a storing
    /// node has one): a blocking iterator that ends when the node is closed or
    /// ``close()`` is called, a context manager that closes it, and
    /// ``get(timeout=)``. Waiting releases the GIL. Closing it (or dropping it)
    /// ends the subscription: the storing nodes stop pushing.
    PySubscription, "Subscription",
    /// A subscription to one mutable item (``AsyncNode.subscribe``): an async
    /// iterator of ``MutableItem`` versions and an async context manager. It
    /// subscribes (looks the item up) at ``__aenter__`` or the first ``__anext__``,
    /// raising the lookup's errors there; ``close()`` ends it.
    PyAsyncSubscription, "AsyncSubscription",
    SubscriptionSource, crate::mutable::PyMutableItem
);

/// The peers of one info-hash a subscription yields; an `AsyncNode`'s starts (runs
/// its lookup) on the first `__anext__` or `__aenter__`.
pub enum PeersSource {
    /// Not subscribed yet.
    Idle {
        node: NodeHandle,
        info_hash: dipsea::Id,
    },
    /// Subscribed.
    Running(dipsea::PeerSubscription),
}

impl Source for PeersSource {
    type Item = crate::convert::PyAddr;

    async fn start(&mut self) -> Result<(), Error> {
        if let PeersSource::Idle { node, info_hash } = self {
            let subscription = node.subscribe_peers(*info_hash).await?;
            *self = PeersSource::Running(subscription);
        }
        Ok(())
    }

    async fn next(&mut self) -> Result<Option<Self::Item>, Error> {
        match self {
            PeersSource::Running(subscription) => {
                Ok(subscription.next().await.map(crate::convert::addr))
            }
            PeersSource::Idle { .. } => Err(Error::Internal(
                "a subscription was read before it started".to_string(),
            )),
        }
    }
}

feeds!(
    /// A subscription to the peers of one info-hash (``Node.subscribe_peers``):
    /// each peer announced to the storing nodes (those stored already first), once,
    /// as ``(host, port)``: a blocking iterator that ends when the node is closed or
    /// ``close()`` is called, a context manager that closes it, and
    /// ``get(timeout=)``. Waiting releases the GIL. Closing it (or dropping it)
    /// ends the subscription.
    PyPeerSubscription, "PeerSubscription",
    /// A subscription to the peers of one info-hash (``AsyncNode.subscribe_peers``):
    /// an async iterator of ``(host, port)`` peers and an async context manager. It
    /// subscribes (looks the info-hash up) at ``__aenter__`` or the first
    /// ``__anext__``, raising the lookup's errors there; ``close()`` ends it.
    PyAsyncPeerSubscription, "AsyncPeerSubscription",
    PeersSource, crate::convert::PyAddr
);
