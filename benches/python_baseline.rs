//! The Rust side of `python/examples/bench_gets.py`: gets per second through one
//! client node on the same 32-node loopback network, from the Rust API.
//!
//! The shape mirrors the Python benchmark exactly, so that the binding's cost is the
//! difference between the two: 31 server nodes plus one client, all on one tokio
//! runtime with as many workers as cores (as pyo3-async-runtimes builds it), default
//! node settings, 500 items put through the servers, then BEP 44 gets of random
//! stored keys through the client for `--seconds` each way:
//! - `async`: `--in-flight` tasks, each awaiting one `NodeHandle::get` after another
//!   (the asyncio run of the Python benchmark);
//! - `blocking`: a `BlockingNode` (its own runtime) shared by `--threads` threads.
//!
//! It prints the same line as the Python script: gets/s, found rate, latency p50/p99,
//! packets sent per get by the client and CPU time per get of the whole process
//! (servers included; on a busy machine this says more than gets/s). Not a criterion benchmark (it measures one
//! fixed-duration run, like the script):
//! `cargo bench -p dipsea-benches --bench python_baseline -- --in-flight 256`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dipsea::{Id, NodeBuilder, NodeHandle};
use rand::{Rng, SeedableRng};

/// What one run measured: latency and whether the value was found, per get.
#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    latencies: Vec<Duration>,
}

impl Tally {
    fn add(&mut self, latency: Duration, ok: bool) {
        self.latencies.push(latency);
        if ok {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.latencies.extend(other.latencies);
    }

    fn report(mut self, label: &str, wall: Duration, cpu: Duration, packets: u64) {
        let total = self.ok + self.failed;
        self.latencies.sort();
        let pct = |p: f64| -> f64 {
            let len = self.latencies.len();
            if len == 0 {
                return 0.0;
            }
            let i = ((p * (len - 1) as f64) as usize).min(len - 1);
            self.latencies[i].as_secs_f64() * 1e3
        };
        println!(
            "{label}: {:.0} gets/s, found {:.4}, p50 {:.2} ms, p99 {:.2} ms, {:.1} packets/get, {:.1} us CPU/get ({total} gets in {:.1} s)",
            total as f64 / wall.as_secs_f64(),
            self.ok as f64 / total.max(1) as f64,
            pct(0.50),
            pct(0.99),
            packets as f64 / total.max(1) as f64,
            cpu.as_secs_f64() * 1e6 / total.max(1) as f64,
            wall.as_secs_f64(),
        );
    }
}

struct Args {
    nodes: usize,
    threads: usize,
    in_flight: usize,
    seconds: f64,
    items: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        nodes: 32,
        threads: 8,
        in_flight: 256,
        seconds: 5.0,
        items: 500,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> f64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match flag.as_str() {
            "--nodes" => args.nodes = value("--nodes") as usize,
            "--threads" => args.threads = value("--threads") as usize,
            "--in-flight" => args.in_flight = value("--in-flight") as usize,
            "--seconds" => args.seconds = value("--seconds"),
            "--items" => args.items = value("--items") as usize,
            // `cargo bench` passes `--bench`; ignore it and anything else.
            _ => {}
        }
    }
    args
}

/// CPU time used by the whole process so far (all threads, user and system), from
/// `/proc/self/stat` in clock ticks of 10 ms (`CLK_TCK` is 100 on Linux); zero
/// elsewhere. The script reads the same with `time.process_time()`.
fn process_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which may hold spaces) in parentheses.
            let rest = stat.get(stat.rfind(')')? + 2..)?.to_string();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the line, 12 and 13 of `rest`.
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn loopback() -> NodeBuilder {
    NodeBuilder::new().bind("127.0.0.1:0")
}

/// `n` joined servers with the default node settings, each bootstrapped from the
/// first: the tests' loopback network ([`dipsea_tests::network_of`]).
async fn start_servers(n: usize) -> Vec<NodeHandle> {
    dipsea_tests::network_of(n, loopback).await
}

/// Puts `items` values (`bench item <i>`) through the servers, 64 at a time.
async fn store(nodes: &[NodeHandle], items: usize) -> Vec<Id> {
    let mut keys = Vec::with_capacity(items);
    for start in (0..items).step_by(64) {
        let puts: Vec<_> = (start..(start + 64).min(items))
            .map(|i| {
                let node = nodes[i % nodes.len()].clone();
                tokio::spawn(async move {
                    let value = format!("bench item {i}").into_bytes();
                    node.put(&value).await.expect("put").key
                })
            })
            .collect();
        for put in puts {
            keys.push(put.await.expect("task"));
        }
    }
    keys
}

async fn bench_async(seed: &str, keys: Arc<Vec<Id>>, in_flight: usize, seconds: f64) {
    let node = loopback()
        .bootstrap([seed.to_string()])
        .spawn()
        .await
        .expect("client starts");
    node.bootstrap().await.expect("client joins");
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let before = node.stats().packets_out;
    let cpu = process_cpu();
    let started = Instant::now();
    let workers: Vec<_> = (0..in_flight)
        .map(|w| {
            let node = node.clone();
            let keys = keys.clone();
            tokio::spawn(async move {
                let mut rng = rand::rngs::SmallRng::seed_from_u64(w as u64);
                let mut tally = Tally::default();
                while Instant::now() < deadline {
                    let key = keys[rng.gen_range(0..keys.len())];
                    let t = Instant::now();
                    let ok = matches!(node.get(key).await, Ok(Some(_)));
                    tally.add(t.elapsed(), ok);
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for worker in workers {
        total.merge(worker.await.expect("task"));
    }
    let wall = started.elapsed();
    let cpu = process_cpu() - cpu;
    total.report(
        &format!("rust async NodeHandle, {in_flight} in flight"),
        wall,
        cpu,
        node.stats().packets_out - before,
    );
    node.shutdown().await;
}

fn bench_blocking(seed: &str, keys: Arc<Vec<Id>>, threads: usize, seconds: f64) {
    let node = Arc::new(
        loopback()
            .bootstrap([seed.to_string()])
            .start_blocking()
            .expect("client starts"),
    );
    node.bootstrap().expect("client joins");
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let before = node.stats().packets_out;
    let cpu = process_cpu();
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|w| {
            let node = node.clone();
            let keys = keys.clone();
            std::thread::spawn(move || {
                let mut rng = rand::rngs::SmallRng::seed_from_u64(w as u64);
                let mut tally = Tally::default();
                while Instant::now() < deadline {
                    let key = keys[rng.gen_range(0..keys.len())];
                    let t = Instant::now();
                    let ok = matches!(node.get(key), Ok(Some(_)));
                    tally.add(t.elapsed(), ok);
                }
                tally
            })
        })
        .collect();
    let mut total = Tally::default();
    for worker in workers {
        total.merge(worker.join().expect("thread"));
    }
    let wall = started.elapsed();
    let cpu = process_cpu() - cpu;
    total.report(
        &format!("rust BlockingNode, {threads} threads"),
        wall,
        cpu,
        node.stats().packets_out - before,
    );
    node.shutdown();
}

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let servers = runtime.block_on(start_servers(args.nodes - 1));
    let seed = servers[0].local_addr().to_string();
    let keys = Arc::new(runtime.block_on(store(&servers, args.items)));
    println!(
        "{} nodes on 127.0.0.1 ({} servers + the client), {} items stored",
        args.nodes,
        args.nodes - 1,
        keys.len()
    );
    bench_blocking(&seed, keys.clone(), args.threads, args.seconds);
    runtime.block_on(bench_async(&seed, keys, args.in_flight, args.seconds));
    runtime.block_on(async {
        for node in &servers {
            node.shutdown().await;
        }
    });
}
