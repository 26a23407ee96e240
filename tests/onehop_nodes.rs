//! The one-hop overlay's own node code in the simulator, shared by the test
//! `sim_onehop_nodes` (300 nodes) and the benchmark `sim_onehop` (2,000): `Swarm`
//! drives the very sans-I/O nodes the UDP driver runs, built with `Overlay::OneHop`.
//! Every node holds the full member list, so the simulator holds N² entries (the
//! protocol model `OneHopSwarm` shares one table and scales to 10,000).
//!
//! The scenario: build, 30 s to converge, OPS puts and gets static; then churn of
//! median session 1 hour (each departure replaced) for 10 minutes and throughout, and
//! OPS puts and gets again.

use std::time::{Duration, Instant};

use dipsea::keyspace::Scheme;
use dipsea::node::NetworkId;
use dipsea::onehop::{OneHopConfig, Overlay};
use dipsea::push::AcceptPolicy;
use dipsea::sim::Churn;
use dipsea::{Swarm, SwarmConfig, SwarmStats};

const HOUR: Duration = Duration::from_secs(60 * 60);

/// What one phase (static or churn) measured.
#[derive(Clone, Debug)]
pub struct Phase {
    /// Gets that found their value.
    pub success: f64,
    /// The fewest and the most members a live node knows.
    pub members: (usize, usize),
    /// The simulator's counters over the gets.
    pub gets: SwarmStats,
}

/// What [`run`] measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The static network.
    pub static_phase: Phase,
    /// After 10 minutes of churn, churning throughout.
    pub churn_phase: Phase,
    /// Datagrams per node per second over the 10 idle minutes of churn (probes,
    /// anti-entropy, membership broadcasts, hand-offs).
    pub membership_packets_per_node_s: f64,
    /// Items put to new owners by the live nodes after the members changed.
    pub handed_off: u64,
    /// The simulator's estimate of memory per node.
    pub memory_per_node: usize,
    /// Wall time of the whole run.
    pub wall: Duration,
}

fn swarm(nodes: usize, seed: u64) -> Swarm {
    let mut config = SwarmConfig {
        nodes,
        seed,
        ..SwarmConfig::default()
    };
    config.node.network = Some(NetworkId::from_name("sim-cluster").expect("a name"));
    config.node.overlay = Overlay::OneHop(OneHopConfig {
        partitioner: Scheme::Rendezvous,
        replicas: 3,
        ..OneHopConfig::default()
    });
    config.node.broadcast.accept = AcceptPolicy::Open;
    Swarm::new(config).expect("a valid configuration")
}

fn member_range(swarm: &Swarm) -> (usize, usize) {
    let counts: Vec<usize> = swarm
        .live_nodes()
        .iter()
        .filter_map(|&i| swarm.node(i as usize))
        .map(|n| n.members().len())
        .collect();
    (
        counts.iter().copied().min().unwrap_or(0),
        counts.iter().copied().max().unwrap_or(0),
    )
}

/// `ops` puts, a minute, `ops` gets of them.
fn phase(swarm: &mut Swarm, ops: usize, tag: &str) -> Phase {
    let values: Vec<Vec<u8>> = (0..ops)
        .map(|i| format!("{tag} {i}").into_bytes())
        .collect();
    let keys: Vec<_> = swarm
        .put_many(&values)
        .into_iter()
        .map(|p| p.expect("put").key)
        .collect();
    swarm.advance(Duration::from_secs(60));
    swarm.reset_ops();
    let found = swarm
        .get_many(&keys)
        .into_iter()
        .zip(&values)
        .filter(|(got, value)| got.as_ref().ok().and_then(|v| v.as_ref()) == Some(*value))
        .count();
    Phase {
        success: found as f64 / ops as f64,
        members: member_range(swarm),
        gets: swarm.stats(),
    }
}

/// Runs the scenario on `nodes` one-hop nodes with `ops` puts and gets a phase.
pub fn run(nodes: usize, ops: usize, seed: u64) -> Report {
    let started = Instant::now();
    let mut swarm = swarm(nodes, seed);
    swarm.advance(Duration::from_secs(30));
    let static_phase = phase(&mut swarm, ops, "static");
    swarm.set_churn(Some(Churn {
        median_session: HOUR,
        replace: true,
    }));
    let before = swarm.stats().packets_sent;
    swarm.advance(Duration::from_secs(10 * 60));
    let membership_packets_per_node_s =
        (swarm.stats().packets_sent - before) as f64 / nodes as f64 / 600.0;
    let churn_phase = phase(&mut swarm, ops, "churn");
    let handed_off = swarm
        .live_nodes()
        .iter()
        .filter_map(|&i| swarm.node(i as usize))
        .map(|n| n.stats().items_handed_off)
        .sum();
    Report {
        static_phase,
        churn_phase,
        membership_packets_per_node_s,
        handed_off,
        memory_per_node: swarm.memory_per_node(),
        wall: started.elapsed(),
    }
}

/// Prints a report, one line a phase.
pub fn print(nodes: usize, r: &Report) {
    for (label, p) in [("static", &r.static_phase), ("churn", &r.churn_phase)] {
        let s = &p.gets;
        println!(
            "one-hop node code, {nodes} nodes, {label:6}: success {:.4}, rounds p50 {} p99 {}, \
             messages per get p50 {} p99 {}, latency p50 {:.0} ms p99 {:.0} ms, members {}..{}",
            p.success,
            s.rounds_p50,
            s.rounds_p99,
            s.messages_per_lookup_p50,
            s.messages_per_lookup_p99,
            s.latency_p50_ms,
            s.latency_p99_ms,
            p.members.0,
            p.members.1
        );
    }
    println!(
        "one-hop node code, {nodes} nodes: {:.2} datagrams per node per second under churn \
         while idle, {} items handed off, memory {} B per node (estimated), wall {:.1?}",
        r.membership_packets_per_node_s, r.handed_off, r.memory_per_node, r.wall
    );
}
