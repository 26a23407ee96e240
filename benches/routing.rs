//! Routing table: `closest(target, 8)` and a mixed read/write workload on the table a
//! node of a 1,000,000-node network holds, single-threaded and with 2 threads.
//!
//! The table is built by letting 1,000,000 random nodes answer it once (so buckets
//! 0..=16 are full, the next few partly so, and the replacement caches are full);
//! targets are random ids. Threaded cases report time per operation over both
//! threads together (aggregate throughput): each of T threads runs iters / T
//! operations against one shared table, and the wall time of the whole run is
//! divided by iters, so perfect scaling halves the 1-thread number.
//!
//! Baseline: the same `RoutingTable` behind one global `parking_lot::Mutex` (the
//! same algorithm, every operation serialised; its per-bucket locks are then never
//! contended). The sharded table should be ahead of it with 2 threads and close to
//! it with 1.
//!
//! Ceiling: `private/2` runs 2 threads on 2 separate tables (nothing shared), the
//! best any shared table can do on the machine at that moment; on a machine shared
//! with other jobs it can be far from 2x, so read `sharded/2` against it.
//!
//! Run: `cargo bench -p dipsea-benches --bench routing -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates an undocumented public fn.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use dipsea::routing::{RoutingConfig, RoutingTable};
use dipsea::{Id, NodeInfo, Time};
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const NETWORK: usize = 1_000_000;
const TARGETS: usize = 4096;

/// The operations under test, for the sharded table and the global-lock baseline.
trait Table: Send + Sync {
    fn closest(&self, target: &Id, n: usize, out: &mut Vec<NodeInfo>);
    fn respond(&self, node: NodeInfo, now: Time);
}

impl Table for RoutingTable {
    fn closest(&self, target: &Id, n: usize, out: &mut Vec<NodeInfo>) {
        RoutingTable::closest(self, target, n, out);
    }
    fn respond(&self, node: NodeInfo, now: Time) {
        let _ = self.on_response(node, now);
    }
}

/// The baseline: one lock around the whole table.
struct GlobalLock(Mutex<RoutingTable>);

impl Table for GlobalLock {
    fn closest(&self, target: &Id, n: usize, out: &mut Vec<NodeInfo>) {
        self.0.lock().closest(target, n, out);
    }
    fn respond(&self, node: NodeInfo, now: Time) {
        let _ = self.0.lock().on_response(node, now);
    }
}

struct Fixture {
    sharded: Arc<RoutingTable>,
    /// A second copy of the table, for the no-sharing ceiling.
    copy: Arc<RoutingTable>,
    global: Arc<GlobalLock>,
    targets: Arc<Vec<Id>>,
    /// Contacts of the table, answering again in the mixed workload.
    contacts: Arc<Vec<NodeInfo>>,
}

fn build(seed: u64) -> RoutingTable {
    let mut rng = SmallRng::seed_from_u64(seed);
    let table = RoutingTable::new(Id::random_with(&mut rng), RoutingConfig::default());
    for i in 0..NETWORK as u32 {
        let addr = SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 6881));
        let _ = table.on_response(NodeInfo::new(Id::random_with(&mut rng), addr), Time::ZERO);
    }
    table
}

fn fixture() -> Fixture {
    let sharded = build(1);
    let copy = build(1);
    let global = build(1);
    eprintln!(
        "table of a {NETWORK}-node network: {} contacts, bucket sizes {:?}",
        sharded.len(),
        sharded.bucket_lens()
    );
    let mut rng = SmallRng::seed_from_u64(2);
    let targets = (0..TARGETS).map(|_| Id::random_with(&mut rng)).collect();
    let contacts = sharded.contacts().into_iter().map(|e| e.node).collect();
    Fixture {
        sharded: Arc::new(sharded),
        copy: Arc::new(copy),
        global: Arc::new(GlobalLock(Mutex::new(global))),
        targets: Arc::new(targets),
        contacts: Arc::new(contacts),
    }
}

/// Runs `iters` operations split over `threads` threads, thread `t` against
/// `tables[t % tables.len()]`; every `write_every`-th operation (0: none) is an
/// answer from a known contact, the rest are `closest(target, 8)`. Returns the wall
/// time of the whole run.
fn run<T: Table + 'static>(
    tables: &[&Arc<T>],
    f: &Fixture,
    threads: usize,
    iters: u64,
    write_every: u64,
) -> Duration {
    let per_thread = iters / threads as u64;
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let table = Arc::clone(tables[t % tables.len()]);
            let targets = Arc::clone(&f.targets);
            let contacts = Arc::clone(&f.contacts);
            s.spawn(move || {
                let mut out = Vec::with_capacity(32);
                let mut rng = SmallRng::seed_from_u64(t as u64);
                let mut i = rng.gen_range(0..TARGETS);
                for op in 0..per_thread {
                    if write_every != 0 && op % write_every == 0 {
                        let node = contacts[rng.gen_range(0..contacts.len())];
                        table.respond(node, Time::from_millis(op));
                    } else {
                        table.closest(&targets[i], 8, &mut out);
                        black_box(&out);
                    }
                    i = (i + 1) % TARGETS;
                }
            });
        }
    });
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    for (name, write_every) in [("closest8", 0), ("mixed_90r_10w", 10)] {
        let mut group = c.benchmark_group(format!("routing/{name}"));
        for threads in [1usize, 2] {
            group.bench_function(BenchmarkId::new("sharded", threads), |b| {
                b.iter_custom(|iters| run(&[&f.sharded], &f, threads, iters, write_every));
            });
            group.bench_function(BenchmarkId::new("global_mutex", threads), |b| {
                b.iter_custom(|iters| run(&[&f.global], &f, threads, iters, write_every));
            });
        }
        group.bench_function(BenchmarkId::new("private", 2), |b| {
            b.iter_custom(|iters| run(&[&f.sharded, &f.copy], &f, 2, iters, write_every));
        });
        group.finish();
    }
    // The plain single-threaded call, without the harness above.
    c.bench_function("routing/closest8/sharded_iter", |b| {
        let mut out = Vec::with_capacity(32);
        let mut i = 0;
        b.iter(|| {
            f.sharded.closest(&f.targets[i], 8, &mut out);
            i = (i + 1) % TARGETS;
            black_box(&out);
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
