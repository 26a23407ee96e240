//! The same 2,000-node network and workload under both overlays, in the simulator:
//! Kademlia (the default `Swarm`, iterative lookups over k-buckets) and the one-hop
//! overlay (`OneHopSwarm`, full membership, requests straight to the owners). Static
//! and with churn of median session 1 hour (each departure replaced). Prints the
//! comparison (`--nocapture`) and checks the one-hop targets: one round trip in at
//! least 99% of gets, 100% success static, at least 99.9% with churn.

use std::time::Duration;

use dipsea::keyspace::Scheme;
use dipsea::sim::{Churn, OneHopConfig, OneHopStats, OneHopSwarm};
use dipsea::{Swarm, SwarmConfig, SwarmStats};

const NODES: usize = 2_000;
const OPS: usize = 1_000;
const HOUR: Duration = Duration::from_secs(60 * 60);

fn values(tag: &str) -> Vec<Vec<u8>> {
    (0..OPS)
        .map(|i| format!("{tag} item {i}").into_bytes())
        .collect()
}

/// Kademlia: OPS puts, then OPS gets of them, from random nodes; with churn, the
/// network churns for 10 minutes first and throughout.
fn kademlia(churn: bool) -> SwarmStats {
    let mut swarm = Swarm::new(SwarmConfig {
        nodes: NODES,
        seed: 11,
        ..SwarmConfig::default()
    })
    .expect("valid");
    if churn {
        swarm.set_churn(Some(Churn {
            median_session: HOUR,
            replace: true,
        }));
        swarm.advance(Duration::from_secs(10 * 60));
    }
    swarm.reset_ops();
    let keys: Vec<_> = swarm
        .put_many(&values(if churn { "churn" } else { "static" }))
        .into_iter()
        .filter_map(Result::ok)
        .map(|p| p.key)
        .collect();
    swarm.advance(Duration::from_secs(60));
    let _ = swarm.get_many(&keys);
    swarm.stats()
}

fn one_hop(churn: bool, scheme: Scheme) -> OneHopStats {
    let mut swarm = OneHopSwarm::new(OneHopConfig {
        nodes: NODES,
        seed: 11,
        scheme,
        churn_median_session: churn.then_some(HOUR),
        ..OneHopConfig::default()
    })
    .expect("valid");
    if churn {
        swarm.advance(Duration::from_secs(10 * 60));
    }
    swarm.run(OPS, Duration::from_secs(5 * 60));
    swarm.stats()
}

fn print_kademlia(label: &str, s: &SwarmStats) {
    println!(
        "kademlia {label:7} success {:.4}  rounds p50 {:.0} p99 {:.0}  messages per op p50 {:.0} p99 {:.0}  latency p50 {:.0} ms p99 {:.0} ms  memory/node {} B",
        s.success_rate,
        s.rounds_p50,
        s.rounds_p99,
        s.messages_per_lookup_p50,
        s.messages_per_lookup_p99,
        s.latency_p50_ms,
        s.latency_p99_ms,
        s.memory_per_node
    );
}

fn print_one_hop(label: &str, s: &OneHopStats) {
    println!(
        "one-hop  {label:7} success {:.4}  1-RT gets {:.4} (p99 {:.0} RT)  messages/get {:.3} messages/put {:.2} (1-RT puts {:.3})  get latency p50 {:.0} ms p99 {:.0} ms  membership {} events, {:.1} B/node/s, {} repaired, {} handoffs  memory/node {} B (sim) {} B (real member list)",
        s.success_rate,
        s.one_round_gets,
        s.rounds_per_get_p99,
        s.messages_per_get,
        s.messages_per_put,
        s.one_round_puts,
        s.get_latency_p50_ms,
        s.get_latency_p99_ms,
        s.membership_events,
        s.membership_bytes_per_node_per_s,
        s.repaired,
        s.handoff_messages,
        s.memory_per_node,
        s.membership_bytes_per_node
    );
}

#[test]
fn both_overlays_on_the_same_static_network() {
    let kad = kademlia(false);
    print_kademlia("static", &kad);
    let hop = one_hop(false, Scheme::Rendezvous);
    print_one_hop("static", &hop);
    assert_eq!((hop.puts, hop.gets), (OPS as u64, OPS as u64));
    assert_eq!(hop.success_rate, 1.0, "{hop:?}");
    assert!(hop.one_round_gets >= 0.99, "{hop:?}");
    assert!(hop.messages_per_get <= 1.0, "{hop:?}");
    assert!(hop.one_round_puts >= 0.99, "{hop:?}");
    assert!(
        kad.rounds_p50 > 1.0,
        "Kademlia takes several rounds: {kad:?}"
    );
    assert!(
        hop.messages_per_get < kad.messages_per_lookup_p50,
        "{hop:?} {kad:?}"
    );
}

#[test]
fn both_overlays_under_churn_of_median_session_one_hour() {
    let kad = kademlia(true);
    print_kademlia("churn", &kad);
    // The ring keeps the hand-off after each join cheap (O(log N) per item) in a
    // debug build; rendezvous is measured static above.
    let hop = one_hop(true, Scheme::Ring { vnodes: 16 });
    print_one_hop("churn", &hop);
    assert!(hop.membership_events > 100, "{hop:?}");
    assert!(hop.success_rate >= 0.999, "{hop:?}");
    assert!(hop.one_round_gets >= 0.99, "{hop:?}");
    assert!(hop.membership_bytes_per_node_per_s > 0.0);
}
