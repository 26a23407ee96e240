//! CPU time per put and per get on the 100-node loopback network of the lookup
//! benchmark: process user+system time divided by operations, which varies far less
//! with other load on the machine than wall-clock throughput does.
//!
//! `cargo run --release -p dipsea-benches --example cpu_per_op [operations] [spread|one] [in flight]`
//!
//! `spread` issues each operation through the next node in turn; `one` issues all of
//! them through the first node.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the stat line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let nodes = Arc::new(runtime.block_on(dipsea_tests::network(100)));
    for op in ["put", "get"] {
        let (cpu0, wall0) = (cpu_seconds(), Instant::now());
        let packets0: u64 = nodes.iter().map(|n| n.stats().packets_out).sum();
        let ok = runtime.block_on(async {
            let permits = Arc::new(Semaphore::new(in_flight));
            let mut tasks = Vec::new();
            for i in 0..count {
                let permit = permits.clone().acquire_owned().await.expect("permit");
                let node = nodes[if one_node { 0 } else { i % nodes.len() }].clone();
                let put = op == "put";
                tasks.push(tokio::spawn(async move {
                    let value = format!("cpu probe {i}").into_bytes();
                    let ok = if put {
                        node.put(&value).await.is_ok()
                    } else {
                        let key = dipsea::Id::sha1(&dipsea::wire::bencode::encode_bytes(&value));
                        matches!(node.get(key).await, Ok(Some(_)))
                    };
                    drop(permit);
                    ok
                }));
            }
            let mut ok = 0;
            for t in tasks {
                ok += usize::from(t.await.expect("task"));
            }
            ok
        });
        let cpu = cpu_seconds() - cpu0;
        let wall = wall0.elapsed().as_secs_f64();
        let packets: u64 = nodes.iter().map(|n| n.stats().packets_out).sum::<u64>() - packets0;
        println!(
            "{op}: {ok}/{count} ok, {:.0} ops/s wall, {:.1} us CPU per op, {:.1} packets/op, {:.2} us CPU per packet",
            count as f64 / wall,
            cpu * 1e6 / count as f64,
            packets as f64 / count as f64,
            cpu * 1e6 / packets as f64
        );
    }
    runtime.block_on(dipsea_tests::shutdown(&nodes));
}
