//! The delegation rule of the broadcast tree (El-Ansary et al. 2003; Czirkos and
//! Hosszú 2013): which contacts a node hands its subtree to.

use crate::id::{Id, NodeInfo, ID_BITS};

/// One hand-off: send the broadcast to `to`, which becomes responsible for the
/// subtree of height `height` around its own id (the subtree of `bucket`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Delegation {
    /// The contact.
    pub to: NodeInfo,
    /// The height `to` is responsible for: `159 - bucket`.
    pub height: u8,
    /// The bucket of the sender's table `to` is in: how many leading bits `to`
    /// shares with the sender.
    pub bucket: u8,
}

/// The height of the subtree of bucket `bucket`: the ids that share exactly `bucket`
/// bits with the owner form the subtree of height `159 - bucket` around any of them.
pub fn child_height(bucket: usize) -> u8 {
    (ID_BITS - 1).saturating_sub(bucket) as u8
}

/// The hand-offs of a node `own` responsible for the subtree of height `height`: for
/// every bucket inside that subtree (buckets `160 - height` to 159), the first `beta`
/// of `contacts` in that bucket, in the order given (put the most trusted first), each
/// made responsible for the bucket's subtree.
///
/// The subtrees handed off are disjoint and, with `own`, make up the subtree of
/// `height`; `own` itself and contacts outside the subtree are skipped.
pub fn delegate(own: &Id, height: u8, contacts: &[NodeInfo], beta: usize) -> Vec<Delegation> {
    let first = ID_BITS.saturating_sub(usize::from(height));
    let mut taken = [0usize; ID_BITS];
    let mut out = Vec::new();
    for contact in contacts {
        let bucket = own.common_prefix_len(&contact.id);
        if bucket < first || bucket >= ID_BITS {
            continue;
        }
        if taken[bucket] < beta {
            taken[bucket] += 1;
            out.push(Delegation {
                to: *contact,
                height: child_height(bucket),
                bucket: bucket as u8,
            });
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::VecDeque;
    use std::net::SocketAddr;

    use rand::rngs::SmallRng;
    use rand::seq::SliceRandom;
    use rand::SeedableRng;

    use super::*;
    use crate::push::range::{in_subtree, KeyRange};

    /// `n` random nodes and, for each, a Kademlia table with up to `k` random contacts
    /// from every non-empty sibling subtree (the invariant a table keeps).
    pub(crate) fn network(n: usize, k: usize, seed: u64) -> (Vec<NodeInfo>, Vec<Vec<NodeInfo>>) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut nodes: Vec<NodeInfo> = (0..n)
            .map(|i| {
                let addr = SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 6881));
                NodeInfo::new(Id::random_with(&mut rng), addr)
            })
            .collect();
        nodes.sort_by_key(|n| n.id);
        let tables = nodes
            .iter()
            .map(|own| {
                let mut buckets: Vec<Vec<NodeInfo>> = vec![Vec::new(); ID_BITS];
                for other in &nodes {
                    if let Some(b) = buckets.get_mut(own.id.common_prefix_len(&other.id)) {
                        b.push(*other);
                    }
                }
                let mut table = Vec::new();
                for mut b in buckets {
                    b.shuffle(&mut rng);
                    b.truncate(k);
                    table.extend(b);
                }
                // Mix buckets so that `delegate` cannot rely on an order.
                table.shuffle(&mut rng);
                table
            })
            .collect();
        (nodes, tables)
    }

    /// Runs a broadcast from `start` at `height` over the synthetic tables: how many
    /// times each node received it, and how many messages were sent.
    pub(crate) fn run(
        nodes: &[NodeInfo],
        tables: &[Vec<NodeInfo>],
        start: usize,
        height: u8,
        beta: usize,
    ) -> (Vec<u32>, usize) {
        let index = |id: &Id| nodes.binary_search_by_key(id, |n| n.id).expect("known id");
        let mut received = vec![0u32; nodes.len()];
        received[start] = 1;
        let mut queue = VecDeque::from([(start, height)]);
        let mut messages = 0;
        while let Some((at, h)) = queue.pop_front() {
            for d in delegate(&nodes[at].id, h, &tables[at], beta) {
                messages += 1;
                let to = index(&d.to.id);
                received[to] += 1;
                if received[to] == 1 {
                    queue.push_back((to, d.height));
                }
            }
        }
        (received, messages)
    }

    #[test]
    fn beta_one_covers_every_node_exactly_once() {
        for (n, seed) in [(1, 1), (2, 2), (50, 3), (2_000, 4)] {
            let (nodes, tables) = network(n, 8, seed);
            for start in [0, n / 2, n - 1] {
                let (received, messages) = run(&nodes, &tables, start, 160, 1);
                assert!(received.iter().all(|&r| r == 1), "n = {n}, start = {start}");
                assert_eq!(messages, n - 1);
            }
        }
    }

    #[test]
    fn a_subtree_broadcast_covers_exactly_its_range() {
        let (nodes, tables) = network(3_000, 8, 5);
        let range = KeyRange::new(nodes[1_234].id, 5).expect("range");
        let inside: Vec<usize> = (0..nodes.len())
            .filter(|&i| range.contains(&nodes[i].id))
            .collect();
        assert!(inside.len() > 50);
        let (received, messages) = run(&nodes, &tables, inside[7], range.height(), 1);
        for (i, &r) in received.iter().enumerate() {
            assert_eq!(r, u32::from(range.contains(&nodes[i].id)), "node {i}");
        }
        assert_eq!(messages, inside.len() - 1);
    }

    #[test]
    fn beta_two_everywhere_compounds() {
        // Czirkos and Hosszu's rule with beta = 2 at every hop: every node still gets
        // it, but the copies compound to about 4 N messages, which is why forwarders
        // hand off to one contact per bucket (see `BroadcastConfig::forward_beta`).
        let (nodes, tables) = network(2_000, 8, 6);
        let (received, messages) = run(&nodes, &tables, 17, 160, 2);
        assert!(received.iter().all(|&r| r >= 1));
        assert!(messages > 3 * nodes.len(), "{messages}");
    }

    #[test]
    fn hand_offs_stay_inside_the_subtree() {
        let (nodes, tables) = network(500, 8, 7);
        let own = &nodes[3];
        for height in [0u8, 1, 100, 155, 159, 160] {
            for d in delegate(&own.id, height, &tables[3], 3) {
                assert!(in_subtree(&own.id, height, &d.to.id));
                assert!(d.height < height);
                assert_eq!(usize::from(d.bucket), own.id.common_prefix_len(&d.to.id));
                assert_eq!(d.height, child_height(usize::from(d.bucket)));
                assert!(in_subtree(&d.to.id, d.height + 1, &own.id));
                assert!(!in_subtree(&d.to.id, d.height, &own.id));
            }
        }
        assert!(delegate(&own.id, 0, &tables[3], 3).is_empty());
        let mut with_self = tables[3].clone();
        with_self.push(*own);
        assert_eq!(
            delegate(&own.id, 160, &with_self, 1).len(),
            delegate(&own.id, 160, &tables[3], 1).len()
        );
    }
}
