//! How evenly a partitioner spreads keys over its members, and how many keys move
//! when a member joins or leaves: the numbers an operator checks before choosing a
//! scheme or a virtual node count (`dipsea keyspace balance` prints them).

use std::collections::HashMap;

use super::{PartitionError, Partitioner};
use crate::id::Id;

/// How `keys` spread over the members of a partitioner, counting each key at its
/// first owner (the primary).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Balance {
    /// Members counted.
    pub members: usize,
    /// Keys counted.
    pub keys: usize,
    /// Keys per member on average.
    pub mean: f64,
    /// The busiest member's keys.
    pub max: usize,
    /// The idlest member's keys (0 when one has none).
    pub min: usize,
}

impl Balance {
    /// Measures `keys` over the members of `partitioner`.
    ///
    /// Errors: [`PartitionError::TooFewMembers`] when it has no member.
    pub fn measure(partitioner: &dyn Partitioner, keys: &[Id]) -> Result<Balance, PartitionError> {
        let mut counts: HashMap<Id, usize> =
            partitioner.members().into_iter().map(|m| (m, 0)).collect();
        for owner in primaries(partitioner, keys)? {
            *counts.entry(owner).or_default() += 1;
        }
        let members = counts.len();
        Ok(Balance {
            members,
            keys: keys.len(),
            mean: keys.len() as f64 / members.max(1) as f64,
            max: counts.values().copied().max().unwrap_or(0),
            min: counts.values().copied().min().unwrap_or(0),
        })
    }

    /// The busiest member's keys over the mean: 1 is perfect.
    pub fn max_over_mean(&self) -> f64 {
        ratio(self.max, self.mean)
    }

    /// The idlest member's keys over the mean: 1 is perfect.
    pub fn min_over_mean(&self) -> f64 {
        ratio(self.min, self.mean)
    }
}

fn ratio(count: usize, mean: f64) -> f64 {
    if mean > 0.0 {
        count as f64 / mean
    } else {
        0.0
    }
}

/// The first owner of each key.
///
/// Errors: [`PartitionError::TooFewMembers`] when the partitioner has no member.
pub fn primaries(partitioner: &dyn Partitioner, keys: &[Id]) -> Result<Vec<Id>, PartitionError> {
    let mut out = Vec::with_capacity(1);
    keys.iter()
        .map(|key| {
            partitioner.owners_into(key, 1, &mut out)?;
            out.first().copied().ok_or(PartitionError::TooFewMembers {
                wanted: 1,
                members: 0,
            })
        })
        .collect()
}

/// The fraction of `keys` whose first owner differs between `before` and `after`
/// (two lists from [`primaries`] over the same keys); the optimum for one member
/// joining or leaving N is 1/N.
pub fn moved(before: &[Id], after: &[Id]) -> f64 {
    let changed = before.iter().zip(after).filter(|(b, a)| b != a).count();
    changed as f64 / before.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::{Rendezvous, Ring};

    fn ids(label: &str, n: usize) -> Vec<Id> {
        (0..n)
            .map(|i| Id::sha1_concat(&[label.as_bytes(), &(i as u64).to_be_bytes()]))
            .collect()
    }

    #[test]
    fn balance_counts_every_key_once_and_moves_are_near_one_over_n() {
        let members = ids("m", 50);
        let keys = ids("k", 20_000);
        let mut hrw = Rendezvous::with_members(&members).expect("members");
        let b = Balance::measure(&hrw, &keys).expect("measure");
        assert_eq!((b.members, b.keys), (50, 20_000));
        assert!((b.mean - 400.0).abs() < 1e-9);
        assert!(b.min <= 400 && b.max >= 400 && b.max_over_mean() < 1.3);
        let before = primaries(&hrw, &keys).expect("owners");
        hrw.add(Id::sha1(b"newcomer")).expect("add");
        let after = primaries(&hrw, &keys).expect("owners");
        let share = moved(&before, &after);
        assert!((share - 1.0 / 51.0).abs() < 0.01, "moved {share}");
        let ring = Ring::new(16).expect("ring");
        assert!(Balance::measure(&ring, &keys).is_err(), "no members");
    }
}
