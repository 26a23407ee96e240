//! Blocking nodes share one runtime: a hundred of them in one process run on a
//! thread per core, not a runtime each, and the runtime stops with the last node.

use std::time::{Duration, Instant};

use dipsea::node::udp::{runtime, shared_runtime_running};
use dipsea::BlockingNode;
use dipsea_tests::loopback_builder;

const NODES: usize = 100;

/// Threads of this process whose name starts with `dipsea-`, from /proc/self/task.
fn dipsea_threads() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task is readable");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("dipsea-"))
        .count()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Waits (at most 10 s) until no dipsea thread is left; returns how many are.
fn wait_for_no_threads() -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    while dipsea_threads() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    dipsea_threads()
}

#[test]
fn a_hundred_blocking_nodes_share_one_runtime() {
    assert_eq!(dipsea_threads(), 0);
    let before = all_threads();
    let seed = loopback_builder().start_blocking().expect("seed starts");
    let seed_addr = seed.local_addr().to_string();
    let mut nodes: Vec<BlockingNode> = vec![seed];
    for _ in 1..NODES {
        let node = loopback_builder()
            .bootstrap([seed_addr.clone()])
            .start_blocking()
            .expect("node starts");
        nodes.push(node);
    }
    for node in &nodes[1..] {
        node.bootstrap().expect("bootstrap succeeds");
    }
    let threads = dipsea_threads();
    assert!(
        threads >= 1,
        "the shared runtime's threads are named dipsea-…"
    );
    assert!(
        threads <= cores() + 8,
        "{threads} dipsea threads for {NODES} nodes on {} cores",
        cores()
    );
    // Named or not: the process has no more threads than that beyond its own.
    assert!(all_threads() - before <= cores() + 8);
    // The nodes work on the shared runtime, from many threads at once.
    let key = nodes[3].put(b"shared runtime").expect("put succeeds").key;
    std::thread::scope(|s| {
        for node in nodes.iter().step_by(10) {
            s.spawn(move || {
                let value = node.get(key).expect("get succeeds");
                assert_eq!(value.as_deref(), Some(&b"shared runtime"[..]));
            });
        }
    });
    assert!(dipsea_threads() <= cores() + 8);
    nodes.truncate(1);
    assert!(shared_runtime_running(), "one node still holds the runtime");
    nodes.clear();
    assert!(!shared_runtime_running(), "the last node stops the runtime");
    assert_eq!(wait_for_no_threads(), 0, "the runtime's threads have ended");

    // A node started afterwards starts a fresh runtime; a dedicated one has its own.
    let again = loopback_builder().start_blocking().expect("node starts");
    let own = loopback_builder()
        .dedicated_runtime(1)
        .start_blocking()
        .expect("node starts");
    assert!(shared_runtime_running());
    // A new thread carries its creator's name until it has set its own.
    let deadline = Instant::now() + Duration::from_secs(10);
    while dipsea_threads() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let names = thread_names();
    assert!(
        names.iter().any(|n| n == runtime::DEDICATED_THREAD_NAME),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n == runtime::SHARED_THREAD_NAME),
        "{names:?}"
    );
    assert_eq!(
        own.ping(again.local_addr()).expect("ping answered"),
        again.id()
    );
    drop(own);
    drop(again);
    assert_eq!(wait_for_no_threads(), 0);
}

fn all_threads() -> usize {
    thread_names().len()
}

fn thread_names() -> Vec<String> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task is readable");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_string())
        .collect()
}
