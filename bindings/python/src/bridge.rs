//! The asyncio bridge: a Rust future of the core, awaited from Python as an
//! `asyncio.Future`, at the cost of one Python call per completion and one loop
//! wakeup per batch of completions.
//!
//! [`spawn`] creates the future with `loop.create_future()` and polls the Rust future
//! once, at once, on the calling thread (which starts the operation: a lookup's first
//! datagrams leave before `spawn` returns, as with the blocking `Node`). Nothing is
//! handed to a runtime task: the core completes an operation by waking its future,
//! and the waker of a [`Task`] only puts the task on its loop's ready list; the first
//! one on an empty list writes one byte to a socket pair the loop watches
//! (`loop.add_reader`). The loop then calls [`Drain`], which polls every ready task
//! again (now complete) and sets each result. The runtime's threads never take the
//! GIL, and completions that arrive close together cost one wakeup.
//!
//! Cancelling the asyncio future cancels the operation: a done-callback on the future
//! drops the Rust future, and dropping a `NodeHandle` future cancels its operation in
//! the core (no more queries are sent for it; answers to those in flight are ignored). A closed loop's bridge is forgotten when the
//! next loop registers, with the tasks on its ready list; results that come after
//! that are dropped too ([`ORPHANS`]).
//!
//! Locks: `LOOPS`, `ORPHANS`, a bridge's `ready` and `spare` lists and a task's future
//! are each held only to look up, push, swap or poll, never while taking another,
//! except a task's future, held while it is polled (its waker takes `ready`).

use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};

use parking_lot::Mutex;
use pyo3::exceptions::PyRuntimeError;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyCFunction, PyDict, PyTuple};
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

/// One registered event loop: the loop (kept alive, so its address is its
/// identity), its `create_future` method and its bridge.
struct Registered {
    event_loop: Py<PyAny>,
    create_future: Py<PyAny>,
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

/// The running loop's `create_future` and bridge, registering the loop the first time.
fn current(py: Python<'_>) -> PyResult<(Bound<'_, PyAny>, Arc<Bridge>)> {
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
            return Ok((r.create_future.bind(py).clone(), r.bridge.clone()));
        }
    }
    register(py, event_loop)
}

#[cold]
fn register<'py>(
    py: Python<'py>,
    event_loop: Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Arc<Bridge>)> {
    let bridge = Arc::new(Bridge::new()?);
    let drain = Drain {
        bridge: bridge.clone(),
    };
    event_loop.call_method1(
        intern!(py, "add_reader"),
        (bridge.wake_rx.as_raw_fd(), drain),
    )?;
    let create_future = event_loop.getattr(intern!(py, "create_future"))?;
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
            create_future: create_future.clone().unbind(),
            bridge: bridge.clone(),
        });
    }
    // Dropped outside the locks, with the GIL.
    let orphans = std::mem::take(&mut *ORPHANS.lock());
    for orphan in orphans {
        orphan.cancel();
    }
    drop(closed);
    Ok((create_future, bridge))
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
    py_future: Py<PyAny>,
    /// `None` once complete or dropped.
    future: Mutex<Option<Pin<Box<F>>>>,
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
        // A cancelled future refuses a result (InvalidStateError): nothing waits for it.
        let _ = match outcome {
            Ok(value) => fut.call_method1(intern!(py, "set_result"), (value,)),
            Err(err) => fut.call_method1(intern!(py, "set_exception"), (err.into_value(py),)),
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
    let (create_future, bridge) = current(py)?;
    let py_future = create_future.call0()?;
    let task = Arc::new(Task {
        bridge: Arc::downgrade(&bridge),
        py_future: py_future.clone().unbind(),
        future: Mutex::new(Some(Box::pin(future))),
    });
    let _context = get_runtime().enter();
    task.poll(py);
    if task.future.lock().is_some() {
        // Still running: if the asyncio future is cancelled, drop the Rust future,
        // which cancels the operation.
        let weak = Arc::downgrade(&task);
        let on_done = PyCFunction::new_closure(
            py,
            None,
            None,
            move |args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>| -> PyResult<()> {
                let fut = args.get_item(0)?;
                if fut
                    .call_method0(intern!(fut.py(), "cancelled"))?
                    .is_truthy()?
                {
                    if let Some(task) = weak.upgrade() {
                        task.cancel();
                    }
                }
                Ok(())
            },
        )?;
        py_future.call_method1(intern!(py, "add_done_callback"), (on_done,))?;
    }
    Ok(py_future)
}
