//! The asyncio bridge: a Rust future of the core, awaited from Python as an
//! `asyncio.Future`, at the cost of one Python call per completion and one loop
//! wakeup per batch of completions.
//!
//! [`spawn`] creates the future with `loop.create_future()` (for a loop that keeps
//! asyncio's own, the `asyncio.Future(loop=loop)` it would make), spawns the Rust
//! future as a task of the runtime ([`OnRuntime`]: the operation starts on a
//! runtime thread, not the loop's) and polls its join handle once. The waker of a
//! [`Task`] only puts the task on its loop's ready list; the first one on an empty
//! list writes one byte to a socket pair the loop watches (`loop.add_reader`). The
//! loop then calls [`Drain`], which polls every ready task again (now complete) and
//! sets each result. The runtime's threads never take the GIL, and completions that
//! arrive close together cost one wakeup.
//!
//! Cancelling the asyncio future cancels the operation: a done-callback on the future
//! ([`CancelOnDone`], taken off again before a result is set, so a completion
//! schedules no callback) drops the join handle, which aborts the runtime's task,
//! and dropping a `NodeHandle` future cancels its operation in the core (no more
//! queries are sent for it; answers to those in flight are ignored). A closed loop's
//! bridge is forgotten when the next loop registers, with the tasks on its ready
//! list; results that come after that are dropped too ([`ORPHANS`]).
//!
//! Locks: `LOOPS`, `ORPHANS`, a bridge's `ready` and `spare` lists and a task's future
//! are each held only to look up, push, swap or poll, never while taking another,
//! except a task's future, held while it is polled (its waker takes `ready`).
//!
//! Per call, the bridge asks no Python function for the running loop (a thread's last
//! loop is kept while its `_thread_id` says it still runs there; see [`Cached`]),
//! and calls `asyncio.Future`'s methods unbound.
//!
//! The blocking `Node`'s calls come back to the GIL through [`detach_in_turn`], which
//! queues the threads whose calls ended so that they take the GIL in the order they
//! came back.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use parking_lot::Mutex;
use pyo3::exceptions::PyRuntimeError;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;
use pyo3::{intern, IntoPyObjectExt};
use pyo3_async_runtimes::tokio::get_runtime;

use crate::errors::to_py;

/// The ready list and wakeup socket pair of one event loop.
struct Bridge {
    /// Tasks whose futures were woken since the last drain.
    ready: Mutex<Vec<Arc<dyn Run>>>,
    /// The drain's emptied batch, swapped back in as the next ready list so that
    /// wakers do not grow a fresh vector under the lock each time.
    spare: Mutex<Vec<Arc<dyn Run>>>,
    /// Whether a wakeup byte was written and not yet drained; only the waker that
    /// sets it writes, so at most one byte is ever pending.
    signalled: AtomicBool,
    /// The end the runtime's threads write to (non-blocking).
    wake_tx: UnixStream,
    /// The end the loop watches (non-blocking).
    wake_rx: UnixStream,
}

impl Bridge {
    fn new() -> PyResult<Bridge> {
        let (wake_tx, wake_rx) = UnixStream::pair()?;
        wake_tx.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        Ok(Bridge {
            ready: Mutex::new(Vec::with_capacity(256)),
            spare: Mutex::new(Vec::with_capacity(256)),
            signalled: AtomicBool::new(false),
            wake_tx,
            wake_rx,
        })
    }

    /// Queues a woken task; wakes the loop if the queue was not signalled yet.
    /// Called on any thread, without the GIL.
    fn schedule(&self, task: Arc<dyn Run>) {
        self.ready.lock().push(task);
        if !self.signalled.swap(true, Ordering::AcqRel) {
            // One byte in an empty socket buffer cannot block; if it ever failed, the
            // next completion would not wake the loop either, so keep the flag
            // honest and let the next waker try again.
            if (&self.wake_tx).write(&[1]).is_err() {
                self.signalled.store(false, Ordering::Release);
            }
        }
    }

    /// Takes the ready tasks. Reads the wakeup byte first, then clears the flag:
    /// a task queued after the flag is cleared writes a new byte.
    fn take_ready(&self) -> Vec<Arc<dyn Run>> {
        let mut buf = [0u8; 64];
        while let Ok(n) = (&self.wake_rx).read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        self.signalled.store(false, Ordering::Release);
        let mut batch = std::mem::take(&mut *self.spare.lock());
        std::mem::swap(&mut batch, &mut *self.ready.lock());
        batch
    }

    /// Keeps a drained batch's allocation for the next [`Bridge::take_ready`].
    fn recycle(&self, mut batch: Vec<Arc<dyn Run>>) {
        batch.clear();
        *self.spare.lock() = batch;
    }
}

/// The reader callback of one loop's bridge: sets the results of the ready tasks.
#[pyclass(module = "dipsea._dipsea", frozen)]
pub struct Drain {
    bridge: Arc<Bridge>,
}

#[pymethods]
impl Drain {
    fn __call__(&self, py: Python<'_>) {
        let _context = get_runtime().enter();
        let mut batch = self.bridge.take_ready();
        for task in batch.drain(..) {
            task.run(py);
        }
        self.bridge.recycle(batch);
    }
}

/// How a loop's futures are made: `loop.create_future()`, or for a loop that keeps
/// asyncio's own `create_future` (which is `asyncio.futures.Future(loop=loop)`, a
/// Python frame around one call) that call itself, with its keyword arguments
/// built once.
struct NewFuture {
    callable: Py<PyAny>,
    /// `{"loop": loop}` for the direct call; `None` for `create_future`.
    kwargs: Option<Py<PyDict>>,
    /// For the direct call, whose futures are exactly `asyncio.Future`: its methods,
    /// called unbound (no attribute lookup and bound method object per call).
    methods: Option<FutureMethods>,
    /// Whether the loop is an `asyncio.BaseEventLoop`, whose `_thread_id` says
    /// where it runs, so that a thread may remember it ([`Cached`]).
    cacheable: bool,
}

/// The methods of `asyncio.Future` the bridge calls, unbound.
struct FutureMethods {
    add_done_callback: Py<PyAny>,
    remove_done_callback: Py<PyAny>,
    set_result: Py<PyAny>,
    set_exception: Py<PyAny>,
}

impl FutureMethods {
    fn of(class: &Bound<'_, PyAny>) -> PyResult<FutureMethods> {
        let py = class.py();
        let method =
            |name: &Bound<'_, pyo3::types::PyString>| class.getattr(name).map(Bound::unbind);
        Ok(FutureMethods {
            add_done_callback: method(intern!(py, "add_done_callback"))?,
            remove_done_callback: method(intern!(py, "remove_done_callback"))?,
            set_result: method(intern!(py, "set_result"))?,
            set_exception: method(intern!(py, "set_exception"))?,
        })
    }
}

impl NewFuture {
    fn for_loop(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<NewFuture> {
        let asyncio = py.import("asyncio")?;
        let cacheable = event_loop.is_instance(&asyncio.getattr(intern!(py, "BaseEventLoop"))?)?;
        let base = asyncio
            .getattr(intern!(py, "BaseEventLoop"))?
            .getattr(intern!(py, "create_future"))?;
        let own = event_loop
            .get_type()
            .getattr(intern!(py, "create_future"))?;
        if own.is(&base) {
            let kwargs = PyDict::new(py);
            kwargs.set_item(intern!(py, "loop"), event_loop)?;
            let future = asyncio
                .getattr(intern!(py, "futures"))?
                .getattr(intern!(py, "Future"))?;
            return Ok(NewFuture {
                methods: Some(FutureMethods::of(&future)?),
                cacheable,
                callable: future.unbind(),
                kwargs: Some(kwargs.unbind()),
            });
        }
        Ok(NewFuture {
            callable: event_loop.getattr(intern!(py, "create_future"))?.unbind(),
            kwargs: None,
            methods: None,
            cacheable,
        })
    }

    fn call<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let callable = self.callable.bind(py);
        match &self.kwargs {
            Some(kwargs) => callable.call((), Some(kwargs.bind(py))),
            None => callable.call0(),
        }
    }

    /// `fut.<name>(arg)`, through the unbound method where there is one.
    fn call_method<'py>(
        &self,
        fut: &Bound<'py, PyAny>,
        name: &Bound<'py, pyo3::types::PyString>,
        unbound: impl FnOnce(&FutureMethods) -> &Py<PyAny>,
        arg: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match &self.methods {
            Some(methods) => unbound(methods).bind(fut.py()).call1((fut, arg)),
            None => fut.call_method1(name, (arg,)),
        }
    }
}

/// One registered event loop: the loop (kept alive, so its address is its
/// identity), how its futures are made and its bridge.
struct Registered {
    event_loop: Py<PyAny>,
    new_future: Arc<NewFuture>,
    bridge: Arc<Bridge>,
}

/// The loops that have a bridge. A handful at most (one per thread running a loop);
/// closed loops are dropped when a new loop registers.
static LOOPS: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

/// Tasks woken after their loop's bridge was gone: dropped, with the GIL, when the
/// next loop registers (dropping them inside the waker could re-enter the channel
/// that is waking them).
static ORPHANS: Mutex<Vec<Arc<dyn Run>>> = Mutex::new(Vec::new());

/// `asyncio.get_running_loop`.
static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The loop that last ran a call of this thread, kept so that the next call need
/// not ask `asyncio.get_running_loop()`, which makes a `getpid` system call each
/// time. With the unbound future methods, a call that completes at once costs
/// 2.1 instead of 2.5 us of the loop thread.
struct Cached {
    event_loop: Py<PyAny>,
    /// The loop's `_thread_id` while it runs here: `BaseEventLoop.run_forever` sets
    /// it to a new int object on entry and to `None` on exit, so while the loop's
    /// attribute is this very object, the loop is still the one running here.
    thread_id: Py<PyAny>,
    new_future: Arc<NewFuture>,
    bridge: Arc<Bridge>,
}

thread_local! {
    static CACHED: std::cell::RefCell<Option<Cached>> = const { std::cell::RefCell::new(None) };
}

/// How the running loop makes futures, and its bridge; registers the loop the first
/// time.
fn current(py: Python<'_>) -> PyResult<(Arc<NewFuture>, Arc<Bridge>)> {
    // Cloned out first: reading the attribute may run Python code, which may call
    // back into the bridge on this thread.
    let cached = CACHED.with(|c| {
        c.borrow().as_ref().map(|c| {
            (
                c.event_loop.clone_ref(py),
                c.thread_id.clone_ref(py),
                c.new_future.clone(),
                c.bridge.clone(),
            )
        })
    });
    if let Some((event_loop, thread_id, new_future, bridge)) = cached {
        if let Ok(now) = event_loop.bind(py).getattr(intern!(py, "_thread_id")) {
            if now.is(&thread_id) {
                return Ok((new_future, bridge));
            }
        }
    }
    let found = running(py)?;
    remember(py, &found);
    Ok((found.1, found.2))
}

/// Keeps the running loop of this thread in [`CACHED`], if it is an asyncio
/// `BaseEventLoop` (whose `_thread_id` says where it runs); else forgets the last.
fn remember(
    py: Python<'_>,
    (event_loop, new_future, bridge): &(Py<PyAny>, Arc<NewFuture>, Arc<Bridge>),
) {
    let entry = Some(event_loop.bind(py))
        .filter(|_| new_future.cacheable)
        .and_then(|l| l.getattr(intern!(py, "_thread_id")).ok())
        .filter(|id| !id.is_none())
        .map(|thread_id| Cached {
            event_loop: event_loop.clone_ref(py),
            thread_id: thread_id.unbind(),
            new_future: new_future.clone(),
            bridge: bridge.clone(),
        });
    let old = CACHED.with(|c| std::mem::replace(&mut *c.borrow_mut(), entry));
    // Dropped outside the borrow (a decref may run Python code).
    drop(old);
}

/// The running loop of this thread (`asyncio.get_running_loop()`), how it makes
/// futures and its bridge; registers the loop the first time.
fn running(py: Python<'_>) -> PyResult<(Py<PyAny>, Arc<NewFuture>, Arc<Bridge>)> {
    let get_running_loop = GET_RUNNING_LOOP.get_or_try_init(py, || {
        py.import("asyncio")?
            .getattr("get_running_loop")
            .map(Bound::unbind)
    })?;
    let event_loop = get_running_loop.bind(py).call0().map_err(|_| {
        PyRuntimeError::new_err("no running event loop: await this inside a coroutine")
    })?;
    {
        let loops = LOOPS.lock();
        if let Some(r) = loops.iter().find(|r| r.event_loop.is(&event_loop)) {
            return Ok((event_loop.unbind(), r.new_future.clone(), r.bridge.clone()));
        }
    }
    let (new_future, bridge) = register(py, event_loop.clone())?;
    Ok((event_loop.unbind(), new_future, bridge))
}

#[cold]
fn register(
    py: Python<'_>,
    event_loop: Bound<'_, PyAny>,
) -> PyResult<(Arc<NewFuture>, Arc<Bridge>)> {
    let bridge = Arc::new(Bridge::new()?);
    let drain = Drain {
        bridge: bridge.clone(),
    };
    event_loop.call_method1(
        intern!(py, "add_reader"),
        (bridge.wake_rx.as_raw_fd(), drain),
    )?;
    let new_future = Arc::new(NewFuture::for_loop(py, &event_loop)?);
    // Forget closed loops (their readers went with their selectors) and the tasks
    // that finished after them. `is_closed` runs Python code, which may hand the GIL
    // to a thread that then waits for `LOOPS`: ask it without holding the lock.
    let known: Vec<Py<PyAny>> = LOOPS
        .lock()
        .iter()
        .map(|r| r.event_loop.clone_ref(py))
        .collect();
    let closed_loops: Vec<Py<PyAny>> = known
        .into_iter()
        .filter(|l| {
            l.bind(py)
                .call_method0(intern!(py, "is_closed"))
                .and_then(|c| c.is_truthy())
                .unwrap_or(true)
        })
        .collect();
    let mut closed = Vec::new();
    {
        let mut loops = LOOPS.lock();
        let mut i = 0;
        while i < loops.len() {
            if closed_loops.iter().any(|l| l.is(&loops[i].event_loop)) {
                closed.push(loops.swap_remove(i));
            } else {
                i += 1;
            }
        }
        loops.push(Registered {
            event_loop: event_loop.unbind(),
            new_future: new_future.clone(),
            bridge: bridge.clone(),
        });
    }
    // Dropped outside the locks, with the GIL.
    let orphans = std::mem::take(&mut *ORPHANS.lock());
    for orphan in orphans {
        orphan.cancel();
    }
    drop(closed);
    Ok((new_future, bridge))
}

/// A task the drain can run without knowing its future's type.
trait Run: Send + Sync {
    /// Polls the future (with the GIL) and, once it is complete, sets the result.
    fn run(self: Arc<Self>, py: Python<'_>);
    /// Drops the future without setting anything.
    fn cancel(&self);
}

/// A Rust future and the asyncio future that waits for it.
struct Task<F> {
    bridge: Weak<Bridge>,
    /// How `py_future` was made, and so how its methods are called.
    new_future: Arc<NewFuture>,
    py_future: Py<PyAny>,
    /// `None` once complete or dropped.
    future: Mutex<Option<Pin<Box<F>>>>,
    /// The [`CancelOnDone`] callback on `py_future`, while the task runs; taken off
    /// the future before its result is set, so that a completion does not schedule
    /// a callback (a loop round trip) that has nothing to do.
    on_done: Mutex<Option<Py<CancelOnDone>>>,
}

impl<F, T, E> Task<F>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
    E: IntoPyErr,
{
    /// Polls once; on completion sets the asyncio future's result or exception.
    fn poll(self: &Arc<Self>, py: Python<'_>) {
        let mut slot = self.future.lock();
        let Some(future) = slot.as_mut() else { return };
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        let outcome = match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx))) {
            Ok(Poll::Pending) => return,
            Ok(Poll::Ready(Ok(value))) => value.into_py_any(py),
            Ok(Poll::Ready(Err(e))) => Err(e.into_py_err()),
            Err(_) => Err(PanicException::new_err(
                "dipsea panicked in an asyncio call",
            )),
        };
        *slot = None;
        drop(slot);
        let fut = self.py_future.bind(py);
        let methods = &self.new_future;
        let on_done = self.on_done.lock().take();
        if let Some(on_done) = on_done {
            let _ = methods.call_method(
                fut,
                intern!(py, "remove_done_callback"),
                |m| &m.remove_done_callback,
                on_done.into_bound(py).into_any(),
            );
        }
        // A cancelled future refuses a result (InvalidStateError): nothing waits for it.
        let _ = match outcome {
            Ok(value) => methods.call_method(
                fut,
                intern!(py, "set_result"),
                |m| &m.set_result,
                value.into_bound(py),
            ),
            Err(err) => methods.call_method(
                fut,
                intern!(py, "set_exception"),
                |m| &m.set_exception,
                err.into_value(py).into_bound(py).into_any(),
            ),
        };
    }
}

impl<F, T, E> Run for Task<F>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
    E: IntoPyErr,
{
    fn run(self: Arc<Self>, py: Python<'_>) {
        self.poll(py);
    }

    fn cancel(&self) {
        // Dropped after the lock is released: dropping a node future cancels its
        // operation, which takes the node's own locks.
        let future = self.future.lock().take();
        drop(future);
    }
}

impl<F, T, E> Wake for Task<F>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
    E: IntoPyErr,
{
    fn wake(self: Arc<Self>) {
        match self.bridge.upgrade() {
            Some(bridge) => bridge.schedule(self),
            None => ORPHANS.lock().push(self),
        }
    }
}

/// Runs `future` for the running asyncio loop; returns the `asyncio.Future` of its
/// result (`dipsea` errors raised as their `DhtError` subclasses). Must be called
/// with a loop running in this thread (else `RuntimeError`).
pub fn spawn<'py, F, T>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, dipsea::Error>> + Send + 'static,
    T: for<'py2> IntoPyObject<'py2> + Send + 'static,
{
    spawn_any(py, future)
}

/// [`spawn`] for a future that fails with a Python exception of its own choosing
/// (`StopAsyncIteration` ends an async iterator).
pub fn spawn_py<'py, F, T>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py2> IntoPyObject<'py2> + Send + 'static,
{
    spawn_any(py, future)
}

/// An error a bridged future ends with: the core's (raised as its `DhtError`
/// subclass) or a Python exception as it is.
pub trait IntoPyErr: Send + 'static {
    /// The exception to set on the asyncio future.
    fn into_py_err(self) -> PyErr;
}

impl IntoPyErr for dipsea::Error {
    fn into_py_err(self) -> PyErr {
        to_py(self)
    }
}

impl IntoPyErr for PyErr {
    fn into_py_err(self) -> PyErr {
        self
    }
}

fn spawn_any<'py, F, T, E>(py: Python<'py>, future: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: for<'py2> IntoPyObject<'py2> + Send + 'static,
    E: IntoPyErr,
{
    let (new_future, bridge) = current(py)?;
    let py_future = new_future.call(py)?;
    let future = OnRuntime(get_runtime().spawn(future));
    let task = Arc::new(Task {
        bridge: Arc::downgrade(&bridge),
        new_future: new_future.clone(),
        py_future: py_future.clone().unbind(),
        future: Mutex::new(Some(Box::pin(future))),
        on_done: Mutex::new(None),
    });
    task.poll(py);
    if task.future.lock().is_some() {
        // Still running: if the asyncio future is cancelled, drop the Rust future,
        // which cancels the operation.
        let task_dyn: Arc<dyn Run> = task.clone();
        let on_done = Py::new(
            py,
            CancelOnDone {
                task: Arc::downgrade(&task_dyn),
            },
        )?;
        new_future.call_method(
            &py_future,
            intern!(py, "add_done_callback"),
            |m| &m.add_done_callback,
            on_done.clone_ref(py).into_bound(py).into_any(),
        )?;
        *task.on_done.lock() = Some(on_done);
    }
    Ok(py_future)
}

/// The core's future, run as a task of the runtime, so that the operation starts
/// on a runtime thread rather than the event loop's. Dropping it aborts the task,
/// which drops the core's future and so cancels the operation.
///
/// Started on the loop's thread (polled there once), the operation's first queries
/// were sent from it, under the node's locks, while the runtime's threads answered
/// for the same node: with every operation through one node, `AsyncNode` reached a
/// median 60% of the Rust API's gets/s on 2 cores (`bench_many_nodes.py`, 4 runs),
/// and started on the runtime, 84% (see docs/design.md).
struct OnRuntime<T, E>(tokio::task::JoinHandle<Result<T, E>>);

impl<T, E> Future for OnRuntime<T, E> {
    type Output = Result<T, Failed<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx).map(|joined| match joined {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Failed::Error(e)),
            Err(e) if e.is_panic() => Err(Failed::Panicked),
            Err(_) => Err(Failed::Stopped),
        })
    }
}

impl<T, E> Drop for OnRuntime<T, E> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why a task run on the runtime ([`OnRuntime`]) gave no value.
enum Failed<E> {
    /// The operation's own error.
    Error(E),
    /// The core panicked.
    Panicked,
    /// The runtime shut down first (the interpreter is exiting).
    Stopped,
}

impl<E: IntoPyErr> IntoPyErr for Failed<E> {
    fn into_py_err(self) -> PyErr {
        match self {
            Failed::Error(e) => e.into_py_err(),
            Failed::Panicked => PanicException::new_err("dipsea panicked in an asyncio call"),
            Failed::Stopped => {
                PyRuntimeError::new_err("dipsea's runtime stopped before the call ended")
            }
        }
    }
}

/// The done-callback of a running task's asyncio future: when the future was
/// cancelled, drops the task's Rust future, which cancels the operation. One small
/// object per call, taken off the future again when the result comes first.
#[pyclass(module = "dipsea._dipsea", frozen)]
pub struct CancelOnDone {
    task: Weak<dyn Run>,
}

#[pymethods]
impl CancelOnDone {
    fn __call__(&self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        if fut
            .call_method0(intern!(fut.py(), "cancelled"))?
            .is_truthy()?
        {
            if let Some(task) = self.task.upgrade() {
                task.cancel();
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The blocking calls' way back to the GIL.

/// Runs `f` with the GIL released (as `Python::detach`), then takes the GIL back in
/// turn: threads whose calls ended queue first-come first-served for it.
///
/// CPython hands the GIL to no one in particular: a thread that comes back when the
/// GIL happens to be free takes it, while those already waiting (woken one at a time
/// as it is dropped) find it taken again and sleep another switch interval (5 ms).
/// With 64 threads making calls on nodes (`python/examples/bench_many_nodes.py`),
/// one call in ten waited 5 ms or more for the GIL that way and one in a hundred
/// 18 ms, after an operation that took 1.5 ms. In turn, at most one of these
/// threads waits for the GIL at a time, so each drop of the GIL wakes the one that
/// came back first.
pub fn detach_in_turn<T, F>(py: Python<'_>, f: F) -> T
where
    F: Send + FnOnce() -> T,
    T: Send,
{
    let out = py.detach(move || {
        let out = f();
        Turn::enter();
        out
    });
    // The GIL is back (detach took it before returning): the next thread may try.
    Turn::leave();
    out
}

/// The queue of threads coming back to the GIL: whether one holds the turn (it is
/// taking the GIL), and the threads waiting for it, oldest first. Locked only to
/// look at or change those, never while taking the GIL.
struct Turn {
    held: bool,
    queue: VecDeque<Arc<Waiter>>,
}

/// A thread waiting for its turn.
struct Waiter {
    thread: Thread,
    /// Set, then the thread unparked, when the turn passes to it.
    admitted: AtomicBool,
}

static TURN: Mutex<Turn> = Mutex::new(Turn {
    held: false,
    queue: VecDeque::new(),
});

impl Turn {
    /// Waits until it is this thread's turn (at once when no one holds it).
    fn enter() {
        let waiter = {
            let mut turn = TURN.lock();
            if !turn.held {
                turn.held = true;
                return;
            }
            let waiter = Arc::new(Waiter {
                thread: std::thread::current(),
                admitted: AtomicBool::new(false),
            });
            turn.queue.push_back(waiter.clone());
            waiter
        };
        // `park` may return spuriously: the flag says whether the turn came.
        while !waiter.admitted.load(Ordering::Acquire) {
            std::thread::park();
        }
    }

    /// Passes the turn to the oldest waiter, or frees it.
    fn leave() {
        let next = {
            let mut turn = TURN.lock();
            let next = turn.queue.pop_front();
            if next.is_none() {
                turn.held = false;
            }
            next
        };
        if let Some(next) = next {
            next.admitted.store(true, Ordering::Release);
            next.thread.unpark();
        }
    }
}
