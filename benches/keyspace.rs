//! Keyspace partitioners: time to name the r = 3 owners of a key among 100, 1,000 and
//! 100,000 members, for XOR distance, the consistent-hashing ring (16 and 64 virtual
//! nodes) and rendezvous hashing; and the cost of one member joining and leaving at
//! 100,000 members (the incremental update, no rebuild).
//!
//! Members and keys are SHA-1 derived ids; each iteration looks up the next of 4,096
//! keys, so caches see a realistic spread of the ring.
//!
//! Baseline: `xor-scan`, the r closest found by scoring every member (what a flat
//! member list without the sorted-prefix search would cost), beside `xor`; and
//! rendezvous itself is the O(N) baseline of the ring's O(log N).
//!
//! First run (a 2-core machine shared with other builds, load about 18, so read the
//! ratios, not the absolute times; 0.5 s warm-up, 1 s measurement): at 100, 1,000
//! and 100,000 members, xor 1.7 µs, 2.0 µs, 6.8 µs (xor-scan 5.5 µs, 50 µs, 3.3 ms);
//! ring-16 190 ns, 290 ns, 7.2 µs; ring-64 225 ns, 1.2 µs, 9.0 µs; rendezvous 5.4 µs,
//! 47 µs, 3.7 ms. Join and leave at 100,000: xor 240 µs, rendezvous 360 µs, ring-16
//! 25 ms, ring-64 92 ms (the ring's sorted array is rewritten).
//!
//! Balance and keys moved are not timings: `cargo run --release -p dipsea-benches
//! --example keyspace_balance` prints them.
//!
//! Run: `cargo bench -p dipsea-benches --bench keyspace -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates an undocumented public fn.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use dipsea::keyspace::{Partitioner, Rendezvous, Ring, Xor};
use dipsea::Id;
use dipsea_tests::keyspace_measure::ids;

const SIZES: [usize; 3] = [100, 1_000, 100_000];
const KEYS: usize = 4096;
const R: usize = 3;

fn partitioners(members: &[Id]) -> Vec<(&'static str, Box<dyn Partitioner>)> {
    vec![
        (
            "xor",
            Box::new(Xor::with_members(members).expect("distinct")),
        ),
        (
            "ring-16",
            Box::new(Ring::with_members(16, members).expect("distinct")),
        ),
        (
            "ring-64",
            Box::new(Ring::with_members(64, members).expect("distinct")),
        ),
        (
            "rendezvous",
            Box::new(Rendezvous::with_members(members).expect("distinct")),
        ),
    ]
}

fn owners(c: &mut Criterion) {
    let keys = ids("key", KEYS);
    let mut group = c.benchmark_group("owners");
    for n in SIZES {
        let members = ids("member", n);
        for (name, p) in partitioners(&members) {
            let mut out = Vec::with_capacity(R);
            let mut next = 0;
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    next = (next + 1) % KEYS;
                    p.owners_into(&keys[next], R, &mut out).expect("r <= n");
                    black_box(&out);
                })
            });
        }
        let mut next = 0;
        let mut top: Vec<(dipsea::Distance, Id)> = Vec::with_capacity(R + 1);
        group.bench_with_input(BenchmarkId::new("xor-scan", n), &n, |b, _| {
            b.iter(|| {
                next = (next + 1) % KEYS;
                closest_by_scan(&members, &keys[next], &mut top);
                black_box(&top);
            })
        });
    }
    group.finish();
}

/// The baseline: every member's distance, the R smallest kept in a sorted list.
fn closest_by_scan(members: &[Id], key: &Id, top: &mut Vec<(dipsea::Distance, Id)>) {
    top.clear();
    for m in members {
        let d = m.distance(key);
        if top.len() == R && d >= top[R - 1].0 {
            continue;
        }
        let at = top.partition_point(|(t, _)| *t < d);
        top.insert(at, (d, *m));
        top.truncate(R);
    }
}

fn join_leave(c: &mut Criterion) {
    let members = ids("member", 100_000);
    let newcomer = ids("newcomer", 1)[0];
    let mut group = c.benchmark_group("join-leave");
    group.sample_size(20);
    for (name, mut p) in partitioners(&members) {
        group.bench_function(BenchmarkId::new(name, members.len()), |b| {
            b.iter(|| {
                p.add(newcomer).expect("new");
                p.remove(&newcomer).expect("member");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, owners, join_leave);
criterion_main!(benches);
