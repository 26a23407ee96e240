//! The one-hop overlay in the simulator at 2,000 and 10,000 members (and
//! `ONEHOP_NODES`), static and with churn of median session 1 hour: round trips and
//! messages per get and put, success, membership traffic per member, the stalest view,
//! memory per member (simulated, and what a real member list takes), wall time.
//! Baseline: the Kademlia swarm of `benches/sim.rs` on the same sizes (`tests/sim_onehop.rs`
//! runs both at 2,000 members in `cargo test`).
//!
//! Cost: a join hands the joiner the items it now owns, found by asking the
//! partitioner for the owners of every stored item, so with rendezvous (O(N) per
//! lookup) a run costs O(joins x items x N): 1,000 items keep the 10,000-member runs
//! to seconds.
//!
//! Last, the same scenario on the nodes' own code driven by `Swarm`
//! (`dipsea_tests::onehop_nodes`, 2,000 nodes; `ONEHOP_NODE_CODE` sets the size, 0
//! skips it), where each node holds the whole member list. `ONEHOP_MODEL=0` runs
//! only that.
//!
//! Not run in CI. Run: `cargo bench -p dipsea-benches --bench sim_onehop`.

use std::time::{Duration, Instant};

use dipsea::keyspace::Scheme;
use dipsea::sim::{OneHopConfig, OneHopSwarm};

fn main() {
    let extra = std::env::var("ONEHOP_NODES")
        .ok()
        .and_then(|v| v.replace('_', "").parse::<usize>().ok());
    // `ONEHOP_MODEL=0` skips the model's runs (only the node code's below).
    let model = std::env::var("ONEHOP_MODEL").map_or(true, |v| v != "0");
    let sizes: Vec<usize> = [2_000, 10_000]
        .into_iter()
        .chain(extra)
        .filter(|_| model)
        .collect();
    for nodes in sizes {
        for scheme in [Scheme::Rendezvous, Scheme::Ring { vnodes: 16 }] {
            for churn in [None, Some(Duration::from_secs(60 * 60))] {
                let started = Instant::now();
                let mut swarm = OneHopSwarm::new(OneHopConfig {
                    nodes,
                    seed: 1,
                    scheme,
                    churn_median_session: churn,
                    ..OneHopConfig::default()
                })
                .expect("valid");
                if churn.is_some() {
                    swarm.advance(Duration::from_secs(10 * 60));
                }
                swarm.run(1_000, Duration::from_secs(5 * 60));
                let s = swarm.stats();
                println!(
                    "{nodes} members {scheme} {}: success {:.5}, one-round gets {:.4}, messages/get {:.3}, messages/put {:.2}, \
                     membership {} events {:.1} B/member/s (stalest view {} ms), memory/member {} B simulated {} B real list, {:.1} s wall",
                    if churn.is_some() { "churn 1 h" } else { "static" },
                    s.success_rate,
                    s.one_round_gets,
                    s.messages_per_get,
                    s.messages_per_put,
                    s.membership_events,
                    s.membership_bytes_per_node_per_s,
                    s.oldest_unheard_ms,
                    s.memory_per_node,
                    s.membership_bytes_per_node,
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    // The nodes' own code (`Swarm` over one-hop nodes), where each node holds the
    // whole member list: `ONEHOP_NODE_CODE` nodes (default 2,000; 0 skips it).
    let nodes = std::env::var("ONEHOP_NODE_CODE")
        .ok()
        .and_then(|v| v.replace('_', "").parse::<usize>().ok())
        .unwrap_or(2_000);
    if nodes > 0 {
        let report = dipsea_tests::onehop_nodes::run(nodes, 1_000, 1);
        dipsea_tests::onehop_nodes::print(nodes, &report);
    }
}
