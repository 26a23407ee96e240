//! The one-hop overlay's own node code in the simulator (see
//! `dipsea_tests::onehop_nodes`): 300 nodes, static and with churn of median session
//! 1 hour. Every node knows every member, gets take one round trip, and every key is
//! found (at least 99.9% with churn). Prints the numbers (`--nocapture`).

use dipsea_tests::onehop_nodes;

const NODES: usize = 300;
const OPS: usize = 300;

#[test]
fn one_hop_nodes_converge_and_keep_every_key_through_churn() {
    let r = onehop_nodes::run(NODES, OPS, 21);
    onehop_nodes::print(NODES, &r);
    let s = &r.static_phase;
    assert_eq!(s.members, (NODES, NODES), "every node knows every member");
    assert_eq!(s.success, 1.0);
    assert!(s.gets.rounds_p99 <= 1.0, "{:?}", s.gets);
    let c = &r.churn_phase;
    assert!(c.success >= 0.999, "{}", c.success);
    assert!(c.gets.rounds_p99 <= 1.0, "{:?}", c.gets);
    assert!(c.members.0 + 5 >= c.members.1, "members {:?}", c.members);
    assert!(r.handed_off > 0, "churn moved no item");
}
