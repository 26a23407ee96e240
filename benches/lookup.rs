//! Lookup throughput of real dipsea nodes over loopback UDP, in one process.
//!
//! A 100-node network (each node its own socket, all on one tokio runtime with as
//! many workers as cores) serves BEP 44 immutable gets and puts, and mutable ones
//! (`getmutable`: the newest verified version of one of 200 signed items;
//! `putmutable`: a new item under a fresh key each time, signed, then verified by
//! each node that stores it; the keys are made before the clocks start):
//! - `spread`: each operation is issued through a random node;
//! - `one_node`: every operation goes through one node (the embedded-library case:
//!   one node, many concurrent callers).
//!
//! Each shape runs with 1 and with 64 operations in flight (that many caller tasks,
//! each issuing its next operation when its last is done); criterion reports the
//! time per operation (the inverse of throughput). Before each group a fixed pass of
//! operations prints what criterion cannot: success rate, latency p50/p99,
//! packets per operation (all datagrams sent by all nodes, divided by operations),
//! and the process's CPU time per operation split into signature checks (BEP 44
//! verifications counted by `dipsea::rpc::signature::checks`, times the cost of one
//! check measured at the start) and the rest (signing a put is in the rest). The
//! pass runs when criterion first runs the group's benchmark, so a filter that
//! leaves a group out skips its pass too.
//!
//! Baseline in the same run, `udp_ceiling`: request/response round trips per second
//! between two plain sockets over loopback, the most any UDP protocol could do here:
//! one at a time (which mostly measures how fast a sleeping thread wakes) and with 64
//! outstanding (the throughput ceiling).

// `criterion_group!` defines a public function it gives no doc comment.
#![allow(missing_docs)]

use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dipsea::{Id, Keypair, MutablePut, NodeHandle};
use dipsea_benches::{cpu_seconds, percentile, signature_check_seconds};
use rand::{Rng, SeedableRng};
use tokio::runtime::Runtime;

const NODES: usize = 100;
/// Items stored before the get benchmarks, all retrievable.
const ITEMS: usize = 2_000;
/// Mutable items stored before the mutable get benchmarks.
const MUTABLE_ITEMS: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Spread,
    OneNode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Get,
    Put,
    GetMutable,
    PutMutable,
}

struct Bench {
    runtime: Runtime,
    nodes: Vec<NodeHandle>,
    keys: Vec<Id>,
    /// Public keys of the stored mutable items (no salt).
    public_keys: Vec<[u8; 32]>,
    /// Runs so far: each run's number seeds its random choices and makes the
    /// values and keys it puts its own (no run re-puts another's items).
    runs: AtomicU64,
}

impl Bench {
    fn new() -> Bench {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let nodes = runtime.block_on(dipsea_tests::network(NODES));
        let keys = runtime.block_on(async {
            let mut keys = Vec::with_capacity(ITEMS);
            for chunk in 0..ITEMS / 100 {
                let mut tasks = Vec::new();
                for i in 0..100 {
                    let node = nodes[(chunk * 100 + i) % nodes.len()].clone();
                    tasks.push(tokio::spawn(async move {
                        let value = format!("bench item {chunk}/{i}").into_bytes();
                        node.put(&value).await.expect("prefill put").key
                    }));
                }
                for task in tasks {
                    keys.push(task.await.expect("task"));
                }
            }
            keys
        });
        let public_keys = runtime.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..MUTABLE_ITEMS {
                let node = nodes[i % nodes.len()].clone();
                tasks.push(tokio::spawn(async move {
                    let keypair = Keypair::from_seed(&seed(u64::MAX, i as u64));
                    let value = format!("mutable bench item {i}").into_bytes();
                    node.put_mutable(&keypair, &value, MutablePut::default())
                        .await
                        .expect("prefill mutable put");
                    keypair.public_key()
                }));
            }
            let mut public_keys = Vec::with_capacity(MUTABLE_ITEMS);
            for task in tasks {
                public_keys.push(task.await.expect("task"));
            }
            public_keys
        });
        Bench {
            runtime,
            nodes,
            keys,
            public_keys,
            runs: AtomicU64::new(0),
        }
    }

    fn packets_sent(&self) -> u64 {
        self.nodes.iter().map(|n| n.stats().packets_out).sum()
    }

    /// Runs `count` operations with `in_flight` at once; returns each one's latency
    /// and whether it succeeded, and the wall and CPU time of the run.
    ///
    /// The keypairs of mutable puts (one per put, as a caller with many records
    /// has) are made before the clocks start: making a key is not part of a put.
    /// Signing the value is.
    ///
    /// `in_flight` callers run on the runtime, each issuing its next operation as
    /// soon as its last one is done, as the many tasks of an application sharing
    /// one node would. (A single loop spawning a task per operation behind a
    /// semaphore measures much of its own overhead too: a task spawned and a
    /// thread woken per operation.)
    fn run(&self, op: Op, shape: Shape, in_flight: usize, count: u64) -> Run {
        let salt = self.runs.fetch_add(1, Ordering::Relaxed);
        let keypairs: Arc<Vec<Keypair>> = Arc::new(match op {
            Op::PutMutable => (0..count)
                .map(|i| Keypair::from_seed(&seed(salt, i)))
                .collect(),
            _ => Vec::new(),
        });
        let (cpu, started) = (cpu_seconds(), Instant::now());
        let nodes = Arc::new(self.nodes.clone());
        let keys = Arc::new(self.keys.clone());
        let public_keys = Arc::new(self.public_keys.clone());
        let next = Arc::new(AtomicU64::new(0));
        self.runtime.block_on(async move {
            let mut callers = Vec::with_capacity(in_flight);
            for caller in 0..in_flight {
                let (nodes, keys, next) = (nodes.clone(), keys.clone(), next.clone());
                let (public_keys, keypairs) = (public_keys.clone(), keypairs.clone());
                callers.push(tokio::spawn(async move {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(salt ^ caller as u64);
                    let mut results = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return results;
                        }
                        let node = match shape {
                            Shape::Spread => &nodes[rng.gen_range(0..nodes.len())],
                            Shape::OneNode => &nodes[0],
                        };
                        let key = keys[rng.gen_range(0..keys.len())];
                        let started = Instant::now();
                        let ok = match op {
                            Op::Get => match node.get(key).await {
                                Ok(Some(_)) => true,
                                other => {
                                    eprintln!("get {key} failed: {other:?}");
                                    false
                                }
                            },
                            Op::Put => {
                                let value = format!("put {salt} {i}").into_bytes();
                                match node.put(&value).await {
                                    Ok(r) if r.stored > 0 => true,
                                    other => {
                                        eprintln!("put failed: {other:?}");
                                        false
                                    }
                                }
                            }
                            Op::GetMutable => {
                                let k = public_keys[rng.gen_range(0..public_keys.len())];
                                match node.get_mutable(&k, b"", None).await {
                                    Ok(Some(_)) => true,
                                    other => {
                                        eprintln!("get_mutable failed: {other:?}");
                                        false
                                    }
                                }
                            }
                            Op::PutMutable => {
                                // A fresh key each time: no two puts race for one item.
                                let keypair = &keypairs[i as usize];
                                let value = format!("mutable put {salt} {i}").into_bytes();
                                let options = MutablePut::default();
                                match node.put_mutable(keypair, &value, options).await {
                                    Ok(r) if r.stored > 0 => true,
                                    other => {
                                        eprintln!("put_mutable failed: {other:?}");
                                        false
                                    }
                                }
                            }
                        };
                        results.push((started.elapsed(), ok));
                    }
                }));
            }
            let mut results = Vec::with_capacity(count as usize);
            for caller in callers {
                results.extend(caller.await.expect("caller task"));
            }
            Run {
                results,
                wall: started.elapsed(),
                cpu: cpu_seconds() - cpu,
            }
        })
    }
}

/// What [`Bench::run`] measured.
struct Run {
    /// Each operation's latency and whether it succeeded.
    results: Vec<(Duration, bool)>,
    /// Wall-clock time of the run.
    wall: Duration,
    /// CPU seconds the process used during the run.
    cpu: f64,
}

/// A keypair seed unique to (`salt`, `i`).
fn seed(salt: u64, i: u64) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&salt.to_be_bytes());
    seed[8..16].copy_from_slice(&i.to_be_bytes());
    seed[16..].copy_from_slice(b"dipsea bench key");
    seed
}

/// Operations in the fixed pass before each group.
const REPORT_OPS: u64 = 5_000;

/// The metrics criterion does not show, from a fixed pass of operations;
/// `check_seconds` is the CPU time of one signature check.
fn report(bench: &Bench, op: Op, shape: Shape, in_flight: usize, check_seconds: f64) {
    let count = REPORT_OPS;
    let before = bench.packets_sent();
    let checks_before = dipsea::rpc::signature::checks();
    let Run { results, wall, cpu } = bench.run(op, shape, in_flight, count);
    let checks = dipsea::rpc::signature::checks() - checks_before;
    let packets = bench.packets_sent() - before;
    let ok = results.iter().filter(|(_, ok)| *ok).count();
    let mut latencies: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
    latencies.sort();
    let per_op = |x: f64| x / count as f64;
    let checks_per_op = per_op(checks as f64);
    let cpu_us = per_op(cpu) * 1e6;
    let signature_us = (checks_per_op * check_seconds * 1e6).min(cpu_us);
    println!(
        "lookup/{op:?}/{shape:?}/{in_flight}: {:.0} ops/s, success {:.4}, p50 {:.3} ms, p99 {:.3} ms, {:.1} packets/op; \
         CPU {cpu_us:.1} us/op: signature checks {signature_us:.1} ({checks_per_op:.2} checks/op), rest {:.1}",
        count as f64 / wall.as_secs_f64(),
        ok as f64 / count as f64,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        per_op(packets as f64),
        cpu_us - signature_us,
    );
}

fn lookups(c: &mut Criterion) {
    let check_seconds = signature_check_seconds();
    println!(
        "lookup: one signature check takes {:.1} us of CPU",
        check_seconds * 1e6
    );
    let bench = Bench::new();
    for op in [Op::Get, Op::Put, Op::GetMutable, Op::PutMutable] {
        for shape in [Shape::Spread, Shape::OneNode] {
            let mut group = c.benchmark_group(format!("lookup/{op:?}/{shape:?}").to_lowercase());
            group.throughput(Throughput::Elements(1));
            group.sample_size(10);
            group.measurement_time(Duration::from_secs(4));
            for in_flight in [1usize, 64] {
                let mut reported = false;
                group.bench_function(format!("in_flight_{in_flight}"), |b| {
                    if !std::mem::replace(&mut reported, true) {
                        report(&bench, op, shape, in_flight, check_seconds);
                    }
                    b.iter_custom(|iters| {
                        let run = bench.run(op, shape, in_flight, iters);
                        let failed = run.results.iter().filter(|(_, ok)| !ok).count();
                        if failed > 0 {
                            eprintln!("{failed} of {iters} operations failed in this sample");
                        }
                        run.wall
                    });
                });
            }
            group.finish();
        }
    }
    bench.runtime.block_on(dipsea_tests::shutdown(&bench.nodes));
}

/// Plain UDP request/response round trips over loopback: the ceiling.
fn udp_ceiling(c: &mut Criterion) {
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let server_addr = server.local_addr().expect("addr");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let echo = {
        let stop = stop.clone();
        server
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((len, from)) = server.recv_from(&mut buf) {
                    let _ = server.send_to(&buf[..len], from);
                }
            }
        })
    };
    let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    client.connect(server_addr).expect("connect");
    let request = [0u8; 100];
    let mut buf = [0u8; 1500];
    let mut group = c.benchmark_group("udp_ceiling");
    group.throughput(Throughput::Elements(1));
    // One request at a time: mostly the time it takes to wake the other thread.
    group.bench_function("round_trip", |b| {
        b.iter(|| {
            client.send(&request).expect("send");
            client.recv(&mut buf).expect("recv")
        })
    });
    // 64 requests outstanding, as the lookups with 64 in flight: the throughput
    // ceiling, what the kernel and two threads can move.
    group.bench_function("round_trips_64_in_flight", |b| {
        b.iter_custom(|iters| {
            let window = iters.min(64);
            let started = Instant::now();
            for _ in 0..window {
                client.send(&request).expect("send");
            }
            for sent in window..iters + window {
                client.recv(&mut buf).expect("recv");
                if sent < iters {
                    client.send(&request).expect("send");
                }
            }
            started.elapsed()
        })
    });
    group.finish();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = echo.join();
}

criterion_group!(benches, udp_ceiling, lookups);
criterion_main!(benches);
