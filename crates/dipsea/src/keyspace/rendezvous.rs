//! [`Rendezvous`]: highest random weight hashing, weighted members allowed.

use std::cmp::Ordering;

use super::hash::{combine, digest, unit};
use super::{begin_owners, PartitionError, Partitioner};
use crate::id::Id;

/// Rendezvous hashing, or highest random weight (Thaler and Ravishankar, IEEE/ACM ToN
/// 6(1), 1998): every member scores the key, and the r highest scores own it.
///
/// The score of member m for key k is a hash h(m, k) of both (a fixed, unseeded
/// 64-bit mix); with all weights equal each member's expected share is exactly 1/N,
/// without virtual nodes, and when a member leaves only the keys it owned move (each
/// to the member that scored next). Weighted members use the logarithmic method (Schindelhauer and
/// Schomaker, "Weighted distributed hash tables", SPAA 2005): the score is
/// `-w / ln(u)` with u = h(m, k) read as a number in (0, 1), so that the chance of
/// winning is w / (sum of weights), exactly proportional to the weight. While all
/// weights are equal the hashes are compared directly, which ranks the same way and
/// skips the logarithm.
///
/// A lookup scores every member: O(N), one 64-bit hash each (3.7 ms at 100,000
/// members, 47 µs at 1,000, measured on a 2-core machine under heavy load with
/// `benches/keyspace.rs`). That is the price of perfect balance and no state beyond
/// the member list; for large clusters with frequent lookups, a [`super::Ring`] is
/// O(log N).
/// Weighted scores go through the platform's `ln`, which is not bit-identical across
/// every libm: processes on different platforms could in principle disagree on a key
/// whose two top scores tie to the last bit. Ties are broken by member id.
#[derive(Clone, Debug, Default)]
pub struct Rendezvous {
    /// Sorted by id.
    members: Vec<Member>,
    /// How many members have a weight other than 1.
    weighted: usize,
}

#[derive(Clone, Copy, Debug)]
struct Member {
    id: Id,
    digest: u64,
    weight: f64,
}

/// A member's rank for one key: higher is better; ties fall to the larger id.
#[derive(Clone, Copy, Debug)]
struct Score {
    score: f64,
    hash: u64,
    id: Id,
}

impl Score {
    fn cmp(&self, other: &Score) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(self.hash.cmp(&other.hash))
            .then(self.id.cmp(&other.id))
    }
}

/// Above this many owners a lookup sorts all scores rather than keep a top list.
const TOP_LIST_MAX: usize = 32;

impl Rendezvous {
    /// An empty partitioner.
    pub fn new() -> Rendezvous {
        Rendezvous::default()
    }

    /// A partitioner holding `members`, all of weight 1; fails on a duplicate.
    pub fn with_members(members: &[Id]) -> Result<Rendezvous, PartitionError> {
        let mut hrw = Rendezvous::new();
        hrw.add_all(members)?;
        Ok(hrw)
    }

    /// A partitioner holding weighted `members`; fails on a duplicate or a weight
    /// that is not finite and positive.
    pub fn with_weights(members: &[(Id, f64)]) -> Result<Rendezvous, PartitionError> {
        let mut hrw = Rendezvous::new();
        for &(id, weight) in members {
            hrw.add_weighted(id, weight)?;
        }
        Ok(hrw)
    }

    /// The weight of `member`, if it is one.
    pub fn weight(&self, member: &Id) -> Option<f64> {
        self.position(member).ok().map(|at| self.members[at].weight)
    }

    fn position(&self, member: &Id) -> Result<usize, usize> {
        self.members.binary_search_by(|m| m.id.cmp(member))
    }

    /// Every member's score for the key whose digest is `key`.
    fn scores(&self, key: u64) -> impl Iterator<Item = Score> + '_ {
        let weighted = self.weighted > 0;
        self.members.iter().map(move |m| {
            let hash = combine(m.digest, key);
            let score = if weighted {
                -m.weight / unit(hash).ln()
            } else {
                0.0
            };
            Score {
                score,
                hash,
                id: m.id,
            }
        })
    }

    /// The `r` best scores by keeping a sorted top list: a score is compared with the
    /// list's worst only, and enters rarely (O(r log N) times in all).
    fn top_list(scores: impl Iterator<Item = Score>, r: usize, out: &mut Vec<Id>) {
        let mut top: Vec<Score> = Vec::with_capacity(r + 1);
        for s in scores {
            if top.len() == r && s.cmp(&top[r - 1]) != Ordering::Greater {
                continue;
            }
            let at = top.partition_point(|t| t.cmp(&s) == Ordering::Greater);
            top.insert(at, s);
            top.truncate(r);
        }
        out.extend(top.iter().map(|s| s.id));
    }

    /// The `r` best scores by a selection over all of them (many owners).
    fn select(scores: impl Iterator<Item = Score>, r: usize, out: &mut Vec<Id>) {
        let mut all: Vec<Score> = scores.collect();
        let best_first = |a: &Score, b: &Score| b.cmp(a);
        if all.len() > r {
            all.select_nth_unstable_by(r - 1, best_first);
            all.truncate(r);
        }
        all.sort_unstable_by(best_first);
        out.extend(all.iter().map(|s| s.id));
    }
}

impl Partitioner for Rendezvous {
    fn add(&mut self, member: Id) -> Result<(), PartitionError> {
        self.add_weighted(member, 1.0)
    }

    fn add_weighted(&mut self, member: Id, weight: f64) -> Result<(), PartitionError> {
        if !(weight.is_finite() && weight > 0.0) {
            return Err(PartitionError::BadWeight(weight));
        }
        let at = match self.position(&member) {
            Ok(_) => return Err(PartitionError::DuplicateMember(member)),
            Err(at) => at,
        };
        self.members.insert(
            at,
            Member {
                id: member,
                digest: digest(&member),
                weight,
            },
        );
        if weight != 1.0 {
            self.weighted += 1;
        }
        Ok(())
    }

    fn add_all(&mut self, members: &[Id]) -> Result<(), PartitionError> {
        let mut ids: Vec<Id> = self.members.iter().map(|m| m.id).collect();
        ids.extend_from_slice(members);
        ids.sort_unstable();
        super::check_sorted_unique(&ids)?;
        self.members.extend(members.iter().map(|&id| Member {
            id,
            digest: digest(&id),
            weight: 1.0,
        }));
        self.members.sort_unstable_by_key(|m| m.id);
        Ok(())
    }

    fn remove(&mut self, member: &Id) -> Result<(), PartitionError> {
        let at = self
            .position(member)
            .map_err(|_| PartitionError::UnknownMember(*member))?;
        if self.members.remove(at).weight != 1.0 {
            self.weighted -= 1;
        }
        Ok(())
    }

    fn contains(&self, member: &Id) -> bool {
        self.position(member).is_ok()
    }

    fn len(&self) -> usize {
        self.members.len()
    }

    fn members(&self) -> Vec<Id> {
        self.members.iter().map(|m| m.id).collect()
    }

    fn owners_into(&self, key: &Id, r: usize, out: &mut Vec<Id>) -> Result<(), PartitionError> {
        if !begin_owners(r, self.members.len(), out)? {
            return Ok(());
        }
        let scores = self.scores(digest(key));
        if r <= TOP_LIST_MAX {
            Rendezvous::top_list(scores, r, out);
        } else {
            Rendezvous::select(scores, r, out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u32) -> Vec<Id> {
        (0..n).map(|i| Id::sha1(&i.to_be_bytes())).collect()
    }

    #[test]
    fn top_list_and_selection_agree() {
        let hrw = Rendezvous::with_members(&ids(200)).expect("distinct");
        for k in 0..50u32 {
            let key = digest(&Id::sha1(&k.to_le_bytes()));
            let (mut a, mut b) = (Vec::new(), Vec::new());
            Rendezvous::top_list(hrw.scores(key), 20, &mut a);
            Rendezvous::select(hrw.scores(key), 20, &mut b);
            assert_eq!(a, b);
        }
    }

    #[test]
    fn equal_weights_rank_like_no_weights() {
        let members = ids(100);
        let plain = Rendezvous::with_members(&members).expect("distinct");
        let pairs: Vec<(Id, f64)> = members.iter().map(|&m| (m, 2.5)).collect();
        let weighted = Rendezvous::with_weights(&pairs).expect("distinct");
        assert_eq!(weighted.weighted, 100);
        for k in 0..100u32 {
            let key = Id::sha1(&k.to_le_bytes());
            assert_eq!(plain.owners(&key, 5), weighted.owners(&key, 5));
        }
    }

    #[test]
    fn shares_follow_weights() {
        // Member 0 weighs 3, the other 9 weigh 1: it should win 3/12 of the keys.
        let members = ids(10);
        let mut hrw = Rendezvous::new();
        hrw.add_weighted(members[0], 3.0).expect("new");
        hrw.add_all(&members[1..]).expect("distinct");
        assert_eq!(hrw.weight(&members[0]), Some(3.0));
        let keys = 60_000u32;
        let won = (0..keys)
            .filter(|k| {
                let key = Id::sha1(&k.to_be_bytes());
                hrw.owners(&key, 1).expect("r <= n")[0] == members[0]
            })
            .count();
        let share = won as f64 / f64::from(keys);
        // Expected 0.25; the standard deviation over 60,000 keys is under 0.002.
        assert!((share - 0.25).abs() < 0.01, "share {share}");
    }

    #[test]
    fn bad_weights_are_refused() {
        let mut hrw = Rendezvous::new();
        for w in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                hrw.add_weighted(Id::ZERO, w),
                Err(PartitionError::BadWeight(_))
            ));
        }
        assert!(hrw.is_empty());
    }
}
