//! A simulated network: 2,000 nodes in this process, in virtual time, with latency
//! and packet loss. Builds the network, runs puts and gets from random nodes, crashes
//! a fifth of the nodes, reads the values again, and prints the summary.
//!
//! ```sh
//! cargo run --release -p dipsea --example swarm           # 2,000 nodes
//! cargo run --release -p dipsea --example swarm -- 20000  # or as many as you like
//! ```
//!
//! Deterministic: the same seed gives the same network and the same results.

use dipsea::{Id, Latency, Swarm, SwarmConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let nodes: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 2000,
    };
    let config = SwarmConfig {
        nodes,
        seed: 42,
        latency: Latency::default(), // uniform 10-100 ms per link
        loss: 0.01,
        ..SwarmConfig::default()
    };
    let mut swarm = Swarm::new(config)?;
    println!("built a network of {} nodes", swarm.len());

    let values: Vec<Vec<u8>> = (0..200)
        .map(|i| format!("value {i}").into_bytes())
        .collect();
    let keys: Vec<Id> = swarm
        .put_many(&values)
        .into_iter()
        .filter_map(|put| put.ok().map(|p| p.key))
        .collect();
    println!("stored {} of {} values", keys.len(), values.len());

    let found = count_found(&mut swarm, &keys);
    println!("found {found} of {} from random nodes", keys.len());

    let crashed = swarm.crash(0.2)?;
    let found = count_found(&mut swarm, &keys);
    println!(
        "after {crashed} nodes crashed: found {found} of {}",
        keys.len()
    );

    let stats = swarm.stats();
    println!(
        "{} lookups, {:.1}% succeeded, rounds p50 {:.1} p99 {:.1}, messages per lookup p50 {:.0}",
        stats.ops,
        stats.success_rate * 100.0,
        stats.rounds_p50,
        stats.rounds_p99,
        stats.messages_per_lookup_p50
    );
    Ok(())
}

/// Gets every key from a random live node; counts those that came back.
fn count_found(swarm: &mut Swarm, keys: &[Id]) -> usize {
    swarm
        .get_many(keys)
        .into_iter()
        .filter(|got| matches!(got, Ok(Some(_))))
        .count()
}
