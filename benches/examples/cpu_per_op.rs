//! CPU time per put and per get on the 100-node loopback network of the lookup
//! benchmark: process user+system time divided by operations, which varies far less
//! with other load on the machine than wall-clock throughput does.
//!
//! `cargo run --release -p dipsea-benches --example cpu_per_op [operations] [spread|one] [in flight] [callers|spawn] [value bytes]`
//!
//! `spread` issues each operation through the next node in turn; `one` issues all of
//! them through the first node. `callers` runs `in flight` long-lived tasks, each
//! issuing its next operation when its last ends (as the lookup benchmark does);
//! `spawn` (the default) spawns a task per operation behind a semaphore. `value bytes`
//! pads each value to that size (`python/examples/bench_many_nodes.py` passes 100,
//! its own size); by default values are as short as `cpu probe <i>`. Besides CPU
//! time it reports allocations per operation and latency p50/p99; with
//! `CPU_PER_OP_DETAIL=1` also the latency tail, timeouts, retries, drops, the store's
//! refusals and the items stored.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dipsea_benches::{cpu_seconds, percentile};
use tokio::sync::Semaphore;

// A counting allocator has to implement the unsafe `GlobalAlloc` trait; it only
// forwards to the system allocator. The library itself stays free of `unsafe`.
#[allow(unsafe_code)]
mod counting {
    use super::*;

    /// The system allocator, counting allocations, so the report can say how many
    /// each operation costs (they were once a large part of the per-packet CPU).
    struct CountingAlloc;

    pub static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

    // SAFETY: forwards every call unchanged to the system allocator.
    unsafe impl GlobalAlloc for CountingAlloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: the caller's contract is passed on as is.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as above.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: as above.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: CountingAlloc = CountingAlloc;
}
use counting::ALLOCATIONS;

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let one_node = std::env::args().nth(2).is_some_and(|s| s == "one");
    let in_flight: usize = std::env::args()
        .nth(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or(64);
    let callers = std::env::args().nth(4).is_some_and(|s| s == "callers");
    let value_size: usize = std::env::args()
        .nth(5)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let nodes = Arc::new(runtime.block_on(dipsea_tests::network(100)));
    for op in ["put", "get"] {
        let allocations0 = ALLOCATIONS.load(Ordering::Relaxed);
        let (cpu0, wall0) = (cpu_seconds(), Instant::now());
        let packets0: u64 = nodes.iter().map(|n| n.stats().packets_out).sum();
        let put = op == "put";
        let run_one = {
            let nodes = nodes.clone();
            move |i: usize| {
                let node = nodes[if one_node { 0 } else { i % nodes.len() }].clone();
                async move {
                    let started = Instant::now();
                    let mut value = format!("cpu probe {i}").into_bytes();
                    if value.len() < value_size {
                        value.resize(value_size, b' ');
                    }
                    let ok = if put {
                        match node.put(&value).await {
                            Ok(_) => true,
                            Err(e) => {
                                eprintln!("put failed: {e}");
                                false
                            }
                        }
                    } else {
                        let key = dipsea::Id::sha1(&dipsea::wire::bencode::encode_bytes(&value));
                        matches!(node.get(key).await, Ok(Some(_)))
                    };
                    (started.elapsed(), ok)
                }
            }
        };
        let results = if callers {
            // `in_flight` long-lived callers, each issuing operations back to back.
            let next = Arc::new(AtomicUsize::new(0));
            runtime.block_on(async {
                let mut tasks = Vec::new();
                for _ in 0..in_flight {
                    let next = next.clone();
                    let run_one = run_one.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut results = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= count {
                                return results;
                            }
                            results.push(run_one(i).await);
                        }
                    }));
                }
                let mut results = Vec::with_capacity(count);
                for t in tasks {
                    results.extend(t.await.expect("task"));
                }
                results
            })
        } else {
            runtime.block_on(async {
                let permits = Arc::new(Semaphore::new(in_flight));
                let mut tasks = Vec::new();
                for i in 0..count {
                    let permit = permits.clone().acquire_owned().await.expect("permit");
                    let op = run_one(i);
                    tasks.push(tokio::spawn(async move {
                        let result = op.await;
                        drop(permit);
                        result
                    }));
                }
                let mut results = Vec::with_capacity(count);
                for t in tasks {
                    results.push(t.await.expect("task"));
                }
                results
            })
        };
        let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations0;
        let ok = results.iter().filter(|(_, ok)| *ok).count();
        let mut latencies: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
        latencies.sort();
        let ms = |p: f64| percentile(&latencies, p).as_secs_f64() * 1e3;
        let cpu = cpu_seconds() - cpu0;
        let wall = wall0.elapsed().as_secs_f64();
        let packets: u64 = nodes.iter().map(|n| n.stats().packets_out).sum::<u64>() - packets0;
        println!(
            "{op}: {ok}/{count} ok, {:.0} ops/s wall, p50 {:.2} ms, p99 {:.2} ms, {:.1} us CPU per op, {:.1} packets/op, {:.2} us CPU per packet, {:.0} allocations per op",
            count as f64 / wall,
            ms(0.5),
            ms(0.99),
            cpu * 1e6 / count as f64,
            packets as f64 / count as f64,
            cpu * 1e6 / packets as f64,
            allocations as f64 / count as f64
        );
        if std::env::var_os("CPU_PER_OP_DETAIL").is_some() {
            let sum = |f: fn(&dipsea::NodeStats) -> u64| -> u64 {
                nodes.iter().map(|n| f(&n.stats())).sum()
            };
            println!(
                "  p90 {:.2} p95 {:.2} p99.9 {:.2} max {:.2} ms; timeouts {} retries {} send drops {} unmatched {} over quota {} bad token {} refused {} items {}",
                ms(0.9),
                ms(0.95),
                ms(0.999),
                ms(1.0),
                sum(|s| s.timeouts),
                sum(|s| s.retries),
                sum(|s| s.send_drops),
                sum(|s| s.unmatched),
                sum(|s| s.over_quota),
                sum(|s| s.bad_token),
                sum(|s| s.refused),
                sum(|s| s.items as u64),
            );
        }
    }
    runtime.block_on(dipsea_tests::shutdown(&nodes));
}
