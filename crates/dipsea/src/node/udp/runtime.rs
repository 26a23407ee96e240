//! The tokio runtimes that blocking nodes run on.
//!
//! By default every [`BlockingNode`](super::BlockingNode) in a process shares one
//! multi-thread runtime with a worker per core, so a program with a hundred nodes
//! runs a handful of threads, not two hundred. The runtime is created when the
//! first node starts and shut down when the last one is dropped (a `Lease` per
//! node counts them); a later node creates a fresh one. A node built with
//! [`NodeBuilder::dedicated_runtime`](super::NodeBuilder::dedicated_runtime) owns a
//! runtime of its own instead, shut down with it.
//!
//! Runtime threads are named `dipsea-shared` and `dipsea-node`, so a process can
//! count its dipsea threads by name.

use std::io;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::runtime::{Handle, Runtime};

/// Name of the shared runtime's threads.
pub const SHARED_THREAD_NAME: &str = "dipsea-shared";
/// Name of the threads of a node's dedicated runtime.
pub const DEDICATED_THREAD_NAME: &str = "dipsea-node";

/// How long a runtime being shut down waits for its threads to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The shared runtime and the number of leases on it.
struct SharedRuntime {
    runtime: Option<Runtime>,
    leases: usize,
    /// Counts the runtimes created, so a lease on one that was shut down by
    /// [`shutdown_shared_runtime`] does not count against its successor.
    generation: u64,
}

/// Locked only to take or return a lease, never while a runtime shuts down.
static SHARED: Mutex<SharedRuntime> = Mutex::new(SharedRuntime {
    runtime: None,
    leases: 0,
    generation: 0,
});

/// A node's hold on the runtime it runs on: the shared one (counted) or its own.
pub(crate) struct Lease {
    handle: Handle,
    /// `Some` for a dedicated runtime, which the lease owns.
    dedicated: Option<Runtime>,
    /// The shared runtime's generation this lease counts in.
    generation: u64,
}

impl Lease {
    /// A lease on the shared runtime, creating the runtime (one worker per core)
    /// if no node holds it.
    ///
    /// Errors: the runtime's threads could not be started.
    pub(crate) fn shared() -> io::Result<Lease> {
        let mut shared = SHARED.lock();
        let handle = match &shared.runtime {
            Some(runtime) => runtime.handle().clone(),
            None => {
                let runtime = build(cores(), SHARED_THREAD_NAME)?;
                let handle = runtime.handle().clone();
                shared.runtime = Some(runtime);
                shared.generation += 1;
                shared.leases = 0;
                handle
            }
        };
        shared.leases += 1;
        Ok(Lease {
            handle,
            dedicated: None,
            generation: shared.generation,
        })
    }

    /// A runtime of `workers` threads owned by this lease alone.
    ///
    /// Errors: the runtime's threads could not be started.
    pub(crate) fn dedicated(workers: usize) -> io::Result<Lease> {
        let runtime = build(workers.max(1), DEDICATED_THREAD_NAME)?;
        Ok(Lease {
            handle: runtime.handle().clone(),
            dedicated: Some(runtime),
            generation: 0,
        })
    }

    /// The runtime to block on and spawn onto.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(runtime) = self.dedicated.take() {
            shut_down(runtime);
            return;
        }
        let last = {
            let mut shared = SHARED.lock();
            if shared.generation != self.generation {
                return;
            }
            shared.leases = shared.leases.saturating_sub(1);
            if shared.leases == 0 {
                shared.runtime.take()
            } else {
                None
            }
        };
        if let Some(runtime) = last {
            shut_down(runtime);
        }
    }
}

/// Shuts the shared runtime down now, even if nodes still hold it: for process
/// exit (the Python binding calls it from `atexit`), after those nodes were closed.
/// Nodes that still hold it fail their operations afterwards; a node started later
/// creates a fresh runtime. Returns whether a runtime was running.
pub fn shutdown_shared_runtime() -> bool {
    let runtime = {
        let mut shared = SHARED.lock();
        shared.leases = 0;
        shared.runtime.take()
    };
    match runtime {
        Some(runtime) => {
            shut_down(runtime);
            true
        }
        None => false,
    }
}

/// Whether the shared runtime is running (some node holds it).
pub fn shared_runtime_running() -> bool {
    SHARED.lock().runtime.is_some()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn build(workers: usize, name: &str) -> io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .enable_all()
        .build()
}

/// Stops a runtime: waits a little for its threads, unless called from inside a
/// runtime, where waiting is not allowed and the threads finish in the background.
fn shut_down(runtime: Runtime) {
    if Handle::try_current().is_ok() {
        runtime.shutdown_background();
    } else {
        runtime.shutdown_timeout(SHUTDOWN_GRACE);
    }
}
