//! Broadcasts over synthetic networks, with loss and crashes: the delegation rule,
//! the fanout's retries and the duplicate check together, without the node.

use std::collections::VecDeque;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::fanout::Fanout;
use super::tree::tests::network;
use super::tree::Delegation;
use crate::id::{Id, NodeInfo};

struct Outcome {
    covered: usize,
    live: usize,
    messages: usize,
}

/// Runs one broadcast from `start` (origin beta `beta`, forwarders `fwd`): each
/// datagram (hand-off and acknowledgement) is lost with probability `loss`; nodes
/// marked `dead` never answer.
fn run(
    nodes: &[NodeInfo],
    tables: &[Vec<NodeInfo>],
    start: usize,
    (beta, fwd): (usize, usize),
    dead: &[bool],
    loss: f64,
    seed: u64,
) -> Outcome {
    let mut rng = SmallRng::seed_from_u64(seed);
    let index = |id: &Id| nodes.binary_search_by_key(id, |n| n.id).expect("known id");
    let mut got = vec![false; nodes.len()];
    got[start] = true;
    // (node, height, beta, rescue): a rescue hands off only bucket 160 - height.
    let mut queue = VecDeque::from([(start, 160u8, beta, false)]);
    let mut messages = 0;
    while let Some((at, height, b, rescue)) = queue.pop_front() {
        let own = nodes[at].id;
        let contacts: Vec<NodeInfo> = tables[at]
            .iter()
            .filter(|c| !rescue || own.common_prefix_len(&c.id) + usize::from(height) == 160)
            .copied()
            .collect();
        let (mut fanout, mut todo): (Fanout, Vec<Delegation>) =
            Fanout::start(own, height, &contacts, b);
        while let Some(d) = todo.pop() {
            messages += 1;
            let to = index(&d.to.id);
            let arrived = !dead[to] && rng.gen::<f64>() >= loss;
            if arrived && !got[to] {
                got[to] = true;
                queue.push_back((to, d.height, fwd, false));
            }
            if arrived && rng.gen::<f64>() >= loss {
                fanout.on_ack(&d.to.id);
            } else if let Some(again) = fanout.on_failure(&d.to.id) {
                todo.push(again);
            } else if let Some((bucket, Some(helper))) = fanout.uncovered(&d.to.id) {
                // The rescue: one more datagram to the helper, which hands the
                // bucket off from its own table if it gets it.
                messages += 1;
                if rng.gen::<f64>() >= loss {
                    queue.push_back((index(&helper.id), 160 - bucket, fwd, true));
                }
            }
        }
        assert!(fanout.is_done());
    }
    Outcome {
        covered: (0..nodes.len()).filter(|&i| got[i] && !dead[i]).count(),
        live: dead.iter().filter(|d| !**d).count(),
        messages,
    }
}

#[test]
fn ten_percent_loss_beta_two() {
    let (nodes, tables) = network(4_000, 8, 21);
    let alive = vec![false; nodes.len()];
    for seed in 0..3 {
        let o = run(&nodes, &tables, 5, (2, 1), &alive, 0.1, seed);
        assert!(
            o.covered * 1000 >= o.live * 999,
            "{} of {}",
            o.covered,
            o.live
        );
    }
}

#[test]
fn right_after_thirty_percent_crashed_beta_two() {
    let (nodes, tables) = network(4_000, 8, 22);
    let mut rng = SmallRng::seed_from_u64(9);
    let mut dead: Vec<bool> = (0..nodes.len()).map(|_| rng.gen::<f64>() < 0.3).collect();
    dead[5] = false;
    let o = run(&nodes, &tables, 5, (2, 1), &dead, 0.0, 1);
    assert!(
        o.covered * 1000 >= o.live * 995,
        "{} of {}",
        o.covered,
        o.live
    );
    assert!(
        o.messages * 10 <= 25 * nodes.len(),
        "{} messages",
        o.messages
    );
}

#[test]
fn static_beta_one_is_n_minus_one_messages() {
    let (nodes, tables) = network(3_000, 8, 23);
    let o = run(
        &nodes,
        &tables,
        0,
        (1, 1),
        &vec![false; nodes.len()],
        0.0,
        1,
    );
    assert_eq!(o.covered, nodes.len());
    assert_eq!(o.messages, nodes.len() - 1);
}
