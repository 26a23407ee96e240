//! `dipsea swarm --overlay one-hop`: the one-hop overlay in the simulator
//! ([`dipsea::sim::OneHopSwarm`]): M puts then M gets of them from random members,
//! spread over a minute each, with optional churn, summarised as a table or JSON.

use std::time::{Duration, Instant};

use clap::ValueEnum;
use dipsea::keyspace::Scheme;
use dipsea::sim::{OneHopConfig, OneHopSwarm};
use serde::Serialize;

use crate::{Failure, Outcome, SwarmArgs};

/// Which overlay `dipsea swarm` simulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Overlay {
    /// Kademlia over the Mainline protocol (the default).
    Kademlia,
    /// Full membership at every node; one round trip per request.
    OneHop,
}

/// What `dipsea swarm --overlay one-hop --json` prints.
#[derive(Debug, Serialize)]
struct Summary {
    overlay: &'static str,
    partitioner: String,
    replicas: usize,
    seed: u64,
    nodes: usize,
    live: usize,
    puts: u64,
    puts_ok: u64,
    gets: u64,
    gets_ok: u64,
    success_rate: f64,
    one_round_gets: f64,
    rounds_per_get_p99: f64,
    messages_per_get: f64,
    messages_per_put: f64,
    one_round_puts: f64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    membership_events: u64,
    membership_bytes_per_node_per_s: f64,
    oldest_unheard_ms: u64,
    memory_per_node: usize,
    membership_bytes_per_node: usize,
    wall_ms: u64,
}

/// Runs the one-hop simulation for `dipsea swarm`.
pub fn run(args: &SwarmArgs) -> Outcome {
    let started = Instant::now();
    let config = config_of(args)?;
    let scheme = config.scheme;
    let mut swarm = OneHopSwarm::new(config).map_err(|e| Failure::usage(e.to_string()))?;
    swarm.run(args.ops, Duration::from_secs(60));
    let s = swarm.stats();
    let summary = Summary {
        overlay: "one-hop",
        partitioner: scheme.to_string(),
        replicas: args.replicas,
        seed: args.seed,
        nodes: s.nodes,
        live: s.live,
        puts: s.puts,
        puts_ok: s.puts_ok,
        gets: s.gets,
        gets_ok: s.gets_ok,
        success_rate: s.success_rate,
        one_round_gets: s.one_round_gets,
        rounds_per_get_p99: s.rounds_per_get_p99,
        messages_per_get: s.messages_per_get,
        messages_per_put: s.messages_per_put,
        one_round_puts: s.one_round_puts,
        latency_p50_ms: s.get_latency_p50_ms,
        latency_p99_ms: s.get_latency_p99_ms,
        membership_events: s.membership_events,
        membership_bytes_per_node_per_s: s.membership_bytes_per_node_per_s,
        oldest_unheard_ms: s.oldest_unheard_ms,
        memory_per_node: s.memory_per_node,
        membership_bytes_per_node: s.membership_bytes_per_node,
        wall_ms: started.elapsed().as_millis() as u64,
    };
    if args.json {
        let line = serde_json::to_string(&summary)
            .map_err(|e| Failure::failed(format!("cannot write JSON: {e}")))?;
        println!("{line}");
        return Ok(());
    }
    print_table(&summary);
    Ok(())
}

/// The simulation `args` ask for.
fn config_of(args: &SwarmArgs) -> Result<OneHopConfig, Failure> {
    let scheme = match args.partitioner.as_str() {
        "ring" => Scheme::Ring {
            vnodes: args.vnodes,
        },
        other => other
            .parse()
            .map_err(|e: dipsea::keyspace::PartitionError| Failure::usage(e.to_string()))?,
    };
    Ok(OneHopConfig {
        nodes: args.nodes,
        seed: args.seed,
        loss: args.loss,
        replicas: args.replicas,
        scheme,
        churn_median_session: args
            .session_minutes
            .filter(|m| m.is_finite() && *m > 0.0)
            .map(|m| Duration::from_secs_f64(m * 60.0)),
        ..OneHopConfig::default()
    })
}

/// The summary as a table, one line per measure.
fn print_table(summary: &Summary) {
    let rows = [
        (
            "overlay",
            format!(
                "one-hop, {}, {} replicas",
                summary.partitioner, summary.replicas
            ),
        ),
        (
            "nodes",
            format!("{} (live {})", summary.nodes, summary.live),
        ),
        (
            "success",
            format!(
                "{:.2} % ({} of {} puts, {} of {} gets)",
                100.0 * summary.success_rate,
                summary.puts_ok,
                summary.puts,
                summary.gets_ok,
                summary.gets
            ),
        ),
        (
            "one-round gets",
            format!(
                "{:.2} % (p99 {:.0} round trips)",
                100.0 * summary.one_round_gets,
                summary.rounds_per_get_p99
            ),
        ),
        (
            "messages per get",
            format!("{:.3}", summary.messages_per_get),
        ),
        (
            "messages per put",
            format!(
                "{:.2} ({:.1} % in one round trip)",
                summary.messages_per_put,
                100.0 * summary.one_round_puts
            ),
        ),
        (
            "latency (virtual)",
            format!(
                "p50 {:.0} ms, p99 {:.0} ms",
                summary.latency_p50_ms, summary.latency_p99_ms
            ),
        ),
        (
            "membership",
            format!(
                "{} events, {:.1} B per node per s, oldest unheard {} ms",
                summary.membership_events,
                summary.membership_bytes_per_node_per_s,
                summary.oldest_unheard_ms
            ),
        ),
        (
            "memory per node",
            format!(
                "{} B in the simulator, {} B for a real member list",
                summary.memory_per_node, summary.membership_bytes_per_node
            ),
        ),
        ("wall time", format!("{} ms", summary.wall_ms)),
    ];
    for (name, value) in rows {
        println!("{name:<18} {value}");
    }
}
