//! Store benchmark: a 90/10 get/put mix of BEP 44 immutable items on
//! [`dipsea::store::Store`] (default config: 16 shards), with 1 and 2 threads.
//!
//! The map is pre-filled with 100,000 items of 100-byte values. Gets read random
//! pre-filled keys (all hit). One op in ten is a put, alternately of an item not stored
//! yet (a fresh insert, taken in order from a pool of 400,000 more; the map is rebuilt,
//! untimed, before the pool runs out) and a re-put of a random pre-filled item (a
//! refresh). Values and targets are computed before timing; each put still hashes its
//! value with SHA-1 to check it against the target, as the store must, and copies it
//! into a new `Arc<[u8]>`. The map grows from 100,000 to at most 500,000 items.
//!
//! Baseline: `parking_lot::Mutex<HashMap<Id, Arc<[u8]>>>` running the same mix, its puts
//! verifying SHA-1 the same way (outside the lock), so the difference is the map and its
//! locking, not the hashing.
//!
//! No quota binds, so the store keeps no eviction index (it is built only by the first
//! put that has to make room): this measures the shards and their hash tables.
//!
//! Reported time is wall time divided by the ops of all threads together (time per op
//! of the aggregate): perfect scaling halves it from 1 to 2 threads. Run with
//! `cargo bench -p dipsea-benches --bench store`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_main, BenchmarkId, Criterion};
use dipsea::store::{Store, StoreConfig};
use dipsea::{Id, Time};
use parking_lot::Mutex;

const PREFILL: usize = 100_000;
/// Enough fresh items that a rebuild (untimed, but slow) is rarely needed.
const FRESH: usize = 400_000;
const VALUE_LEN: usize = 100;
/// One op in `PUT_EVERY` is a put.
const PUT_EVERY: u64 = 10;
const NOW: Time = Time::from_millis(1_000);

/// The operations both contenders offer.
trait Kv: Sync {
    fn get(&self, target: &Id) -> Option<Arc<[u8]>>;
    fn put(&self, target: Id, v: &[u8]) -> bool;
}

impl Kv for Store {
    fn get(&self, target: &Id) -> Option<Arc<[u8]>> {
        self.get_immutable(target, NOW)
    }
    fn put(&self, target: Id, v: &[u8]) -> bool {
        self.put_immutable(target, v, NOW).is_ok()
    }
}

/// The baseline: one global lock over a standard hash map.
struct Baseline(Mutex<HashMap<Id, Arc<[u8]>>>);

impl Kv for Baseline {
    fn get(&self, target: &Id) -> Option<Arc<[u8]>> {
        self.0.lock().get(target).cloned()
    }
    fn put(&self, target: Id, v: &[u8]) -> bool {
        if Id::sha1(v) != target {
            return false;
        }
        let v: Arc<[u8]> = Arc::from(v);
        self.0.lock().insert(target, v);
        true
    }
}

/// Pre-computed items: the first `PREFILL` are stored before timing, the rest are fresh.
struct Items {
    targets: Vec<Id>,
    values: Vec<Vec<u8>>,
}

impl Items {
    fn new() -> Items {
        let values: Vec<Vec<u8>> = (0..PREFILL + FRESH)
            .map(|i| {
                // A bencoded byte string of exactly VALUE_LEN bytes: "97:" + 97 bytes.
                let mut v = format!("{}:", VALUE_LEN - 3).into_bytes();
                let mut payload = vec![b'.'; VALUE_LEN - 3];
                payload[..8].copy_from_slice(&(i as u64).to_be_bytes());
                v.extend_from_slice(&payload);
                assert_eq!(v.len(), VALUE_LEN);
                v
            })
            .collect();
        let targets = values.iter().map(|v| Id::sha1(v)).collect();
        Items { targets, values }
    }

    fn fill(&self, kv: &impl Kv) {
        for i in 0..PREFILL {
            assert!(kv.put(self.targets[i], &self.values[i]));
        }
    }
}

fn new_store() -> Store {
    let config = StoreConfig {
        // No quota may bind: this measures the maps, not eviction.
        max_items: 1 << 20,
        max_value_bytes: 1 << 30,
        ..StoreConfig::default()
    };
    Store::new(Id::random(), config)
}

fn new_baseline() -> Baseline {
    Baseline(Mutex::new(HashMap::new()))
}

/// A pre-filled map and how many of the fresh items it has taken already.
struct Fixture<K> {
    kv: K,
    fresh_used: usize,
}

impl<K: Kv> Fixture<K> {
    /// Runs `iters` ops on the fixture in `slot`, rebuilding it first (untimed) when
    /// its fresh items would run out, so that fresh puts really insert.
    fn run(
        slot: &mut Option<Fixture<K>>,
        new: impl Fn() -> K,
        items: &Items,
        threads: usize,
        iters: u64,
    ) -> Duration {
        let fresh_needed = fresh_puts(iters.div_ceil(threads as u64)) * threads;
        let stale = match slot {
            Some(f) => f.fresh_used + fresh_needed > FRESH,
            None => true,
        };
        if stale {
            // Drop the old map before building the new one.
            *slot = None;
            let kv = new();
            items.fill(&kv);
            *slot = Some(Fixture { kv, fresh_used: 0 });
        }
        let Some(fixture) = slot.as_mut() else {
            unreachable!("just filled")
        };
        let elapsed = run(&fixture.kv, items, threads, iters, fixture.fresh_used);
        fixture.fresh_used += fresh_needed;
        elapsed
    }
}

/// Fresh puts in `ops` ops of one thread: ops 0, 20, 40, ...
fn fresh_puts(ops: u64) -> usize {
    ops.div_ceil(2 * PUT_EVERY) as usize
}

/// Runs `iters` ops of the mix split over `threads` threads; returns the wall time.
/// Fresh puts use the fresh items from index `fresh_base` on (each at most once).
fn run(kv: &impl Kv, items: &Items, threads: usize, iters: u64, fresh_base: usize) -> Duration {
    let barrier = Barrier::new(threads + 1);
    let per_thread = iters.div_ceil(threads as u64);
    std::thread::scope(|s| {
        for t in 0..threads {
            let barrier = &barrier;
            s.spawn(move || {
                // xorshift64: cheap, and distinct per thread.
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (t as u64 + 1);
                let mut next = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x
                };
                barrier.wait();
                for i in 0..per_thread {
                    let r = next();
                    if i % PUT_EVERY != 0 {
                        let idx = r as usize % PREFILL;
                        black_box(kv.get(&items.targets[idx]));
                        continue;
                    }
                    // Puts alternate: fresh (thread t takes fresh items t, t + threads,
                    // ...), then a re-put of a random pre-filled item.
                    let k = (i / (2 * PUT_EVERY)) as usize;
                    let fresh = PREFILL + fresh_base + t + k * threads;
                    let idx = if ((i / PUT_EVERY) & 1) == 0 && fresh < PREFILL + FRESH {
                        fresh
                    } else {
                        r as usize % PREFILL
                    };
                    black_box(kv.put(items.targets[idx], &items.values[idx]));
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // Leaving the scope joins every thread.
        start
    })
    .elapsed()
}

fn bench_store(c: &mut Criterion) {
    let items = Items::new();
    let mut group = c.benchmark_group("store_90get_10put");
    for threads in [1usize, 2] {
        // The fixture outlives the closures: criterion calls them once per sample.
        let mut store = None;
        group.bench_with_input(BenchmarkId::new("store", threads), &threads, |b, &t| {
            b.iter_custom(|iters| Fixture::run(&mut store, new_store, &items, t, iters))
        });
        drop(store);
        let mut baseline = None;
        group.bench_with_input(
            BenchmarkId::new("mutex_hashmap", threads),
            &threads,
            |b, &t| {
                b.iter_custom(|iters| Fixture::run(&mut baseline, new_baseline, &items, t, iters))
            },
        );
    }
    group.finish();
}

// Written out rather than with `criterion_group!`, whose function carries no doc
// comment (the workspace warns on missing docs).
fn benches() {
    let mut c = Criterion::default().configure_from_args();
    bench_store(&mut c);
}

criterion_main!(benches);
