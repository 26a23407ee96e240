//! Measures of a partitioner shared by `tests/keyspace_balance.rs` (small sizes,
//! asserted in `cargo test`) and `benches/examples/keyspace_balance.rs` (the full
//! sizes, printed): balance of the keys over the members, and keys moved by a join or
//! a leave.

use std::collections::HashMap;

use dipsea::keyspace::Partitioner;
use dipsea::Id;

/// `n` distinct ids derived from `label`: SHA-1 of the label and an index, so runs
/// are reproducible.
pub fn ids(label: &str, n: usize) -> Vec<Id> {
    (0..n)
        .map(|i| Id::sha1_concat(&[label.as_bytes(), &(i as u64).to_be_bytes()]))
        .collect()
}

/// How evenly `keys` spread over the members, counting each key at its first owner.
#[derive(Clone, Copy, Debug)]
pub struct Balance {
    /// The busiest member's keys over the mean (1 is perfect).
    pub max_over_mean: f64,
    /// The idlest member's keys over the mean (1 is perfect; 0 when one has none).
    pub min_over_mean: f64,
}

/// The first owner of each key.
pub fn primaries(p: &dyn Partitioner, keys: &[Id]) -> Vec<Id> {
    let mut out = Vec::with_capacity(1);
    keys.iter()
        .map(|k| {
            p.owners_into(k, 1, &mut out)
                .expect("a partitioner with members");
            out[0]
        })
        .collect()
}

/// The balance of `keys` over the members of `p`.
pub fn balance(p: &dyn Partitioner, keys: &[Id]) -> Balance {
    let mut counts: HashMap<Id, usize> = p.members().into_iter().map(|m| (m, 0)).collect();
    for owner in primaries(p, keys) {
        *counts.entry(owner).or_default() += 1;
    }
    let mean = keys.len() as f64 / counts.len() as f64;
    let max = counts.values().copied().max().unwrap_or(0);
    let min = counts.values().copied().min().unwrap_or(0);
    Balance {
        max_over_mean: max as f64 / mean,
        min_over_mean: min as f64 / mean,
    }
}

/// The fraction of `keys` whose first owner changes when `newcomer` joins (`p` is left
/// with it as a member), and the newcomer's share of the keys after the join.
pub fn moved_on_join(p: &mut dyn Partitioner, newcomer: Id, keys: &[Id]) -> (f64, f64) {
    let before = primaries(p, keys);
    p.add(newcomer).expect("a new member");
    let after = primaries(p, keys);
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    let share = after.iter().filter(|a| **a == newcomer).count();
    (fraction(moved, keys), fraction(share, keys))
}

/// The fraction of `keys` whose first owner changes when `leaver` leaves (`p` is
/// left without it), and the leaver's share of the keys before.
pub fn moved_on_leave(p: &mut dyn Partitioner, leaver: Id, keys: &[Id]) -> (f64, f64) {
    let before = primaries(p, keys);
    p.remove(&leaver).expect("a member");
    let after = primaries(p, keys);
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    let share = before.iter().filter(|b| **b == leaver).count();
    (fraction(moved, keys), fraction(share, keys))
}

fn fraction(count: usize, keys: &[Id]) -> f64 {
    count as f64 / keys.len() as f64
}
