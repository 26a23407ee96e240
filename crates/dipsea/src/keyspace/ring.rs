//! [`Ring`]: consistent hashing with virtual nodes.

use std::collections::HashSet;

use super::hash::{combine, digest};
use super::{
    add_unweighted, begin_owners, insert_sorted, merge_sorted, remove_sorted, PartitionError,
    Partitioner,
};
use crate::id::Id;

/// The virtual nodes per member of a ring built from a name (`"ring"`): 64.
///
/// With random points a member's share varies by about 1/sqrt(v) of the mean
/// (Karger et al.). Measured with 1,000 members and 1,000,000 keys
/// (`benches/examples/keyspace_balance.rs`), the busiest member holds 2.0 times the
/// mean with 16 points, 1.55 with 64 and 1.21 with 256 (rendezvous: 1.12).
/// Cassandra 4.0 uses 16 but places them with a replica-aware allocator, not at
/// random; for random points 64 is the compromise between balance and the ring's size
/// (N x v entries of 32 bytes: 200 MB at 100,000 members).
pub const DEFAULT_VNODES: usize = 64;

/// The most virtual nodes per member a ring takes: 4,096 (balance within about 2%;
/// more only costs memory).
pub const MAX_VNODES: usize = 4096;

/// Fails unless `vnodes` is 1 to [`MAX_VNODES`].
pub(super) fn check_vnodes(vnodes: usize) -> Result<(), PartitionError> {
    if (1..=MAX_VNODES).contains(&vnodes) {
        Ok(())
    } else {
        Err(PartitionError::BadVnodes(vnodes))
    }
}

/// Consistent hashing (Karger et al., STOC 1997) with `v` virtual nodes per member,
/// as in Dynamo and Cassandra.
///
/// Each member is placed at `v` points of a 64-bit ring, the hash of (member, i) for
/// i in 0..v; a key sits at the hash of its id. The owners are the first r distinct
/// members met walking clockwise (upward, wrapping) from the key's point, so a key
/// keeps its owners unless a member joins or leaves just before it.
///
/// Points are kept in one sorted array of (point, member): a lookup is a binary
/// search and a short walk, O(log(N v) + r) (the walk skips the repeated points of
/// members already chosen). Adding a member merges its v sorted points into the
/// array and removing one filters them out, each one pass over the array, O(N v)
/// memory moves and no rehashing (a join and a leave at 100,000 members with 16
/// points each took 25 ms on a loaded 2-core machine).
/// Points that collide are ordered by member id, so the order members were added in
/// never changes the owners.
#[derive(Clone, Debug)]
pub struct Ring {
    vnodes: usize,
    points: Vec<(u64, Id)>,
    members: Vec<Id>,
}

impl Ring {
    /// An empty ring with `vnodes` points per member (1 to [`MAX_VNODES`]).
    pub fn new(vnodes: usize) -> Result<Ring, PartitionError> {
        check_vnodes(vnodes)?;
        Ok(Ring {
            vnodes,
            points: Vec::new(),
            members: Vec::new(),
        })
    }

    /// A ring with `vnodes` points per member holding `members`; fails on a duplicate
    /// or a bad `vnodes`.
    pub fn with_members(vnodes: usize, members: &[Id]) -> Result<Ring, PartitionError> {
        let mut ring = Ring::new(vnodes)?;
        ring.add_all(members)?;
        Ok(ring)
    }

    /// The virtual nodes per member.
    pub fn vnodes(&self) -> usize {
        self.vnodes
    }

    /// The sorted points of `members`.
    fn points_of(&self, members: &[Id]) -> Vec<(u64, Id)> {
        let mut points: Vec<(u64, Id)> = members
            .iter()
            .flat_map(|m| {
                let d = digest(m);
                (0..self.vnodes as u64).map(move |i| (combine(d, i), *m))
            })
            .collect();
        points.sort_unstable();
        points
    }

    /// Merges sorted `new` points into the ring's sorted points, in place from the
    /// back: one pass, no second array.
    fn merge_points(&mut self, new: Vec<(u64, Id)>) {
        let old_len = self.points.len();
        self.points.extend_from_slice(&new);
        let (mut i, mut j, mut k) = (old_len, new.len(), self.points.len());
        while j > 0 {
            k -= 1;
            if i > 0 && self.points[i - 1] > new[j - 1] {
                self.points[k] = self.points[i - 1];
                i -= 1;
            } else {
                self.points[k] = new[j - 1];
                j -= 1;
            }
        }
    }

    /// Walks clockwise from `start` collecting up to `r` distinct members.
    fn walk(&self, start: usize, r: usize, out: &mut Vec<Id>) {
        let n = self.points.len();
        let mut seen = HashSet::new();
        // With few owners a scan of `out` beats hashing.
        let large = r > 16;
        for step in 0..n {
            let member = self.points[(start + step) % n].1;
            let fresh = if large {
                seen.insert(member)
            } else {
                !out.contains(&member)
            };
            if fresh {
                out.push(member);
                if out.len() == r {
                    return;
                }
            }
        }
    }
}

impl Partitioner for Ring {
    fn add(&mut self, member: Id) -> Result<(), PartitionError> {
        insert_sorted(&mut self.members, member)?;
        let new = self.points_of(std::slice::from_ref(&member));
        self.merge_points(new);
        Ok(())
    }

    fn add_weighted(&mut self, member: Id, weight: f64) -> Result<(), PartitionError> {
        add_unweighted(self, "ring", member, weight)
    }

    fn add_all(&mut self, members: &[Id]) -> Result<(), PartitionError> {
        let all = merge_sorted(&self.members, members)?;
        let new = self.points_of(members);
        self.merge_points(new);
        self.members = all;
        Ok(())
    }

    fn remove(&mut self, member: &Id) -> Result<(), PartitionError> {
        remove_sorted(&mut self.members, member)?;
        self.points.retain(|(_, m)| m != member);
        Ok(())
    }

    fn contains(&self, member: &Id) -> bool {
        self.members.binary_search(member).is_ok()
    }

    fn len(&self) -> usize {
        self.members.len()
    }

    fn members(&self) -> Vec<Id> {
        self.members.clone()
    }

    fn owners_into(&self, key: &Id, r: usize, out: &mut Vec<Id>) -> Result<(), PartitionError> {
        if !begin_owners(r, self.members.len(), out)? {
            return Ok(());
        }
        let point = digest(key);
        let start = self.points.partition_point(|(p, _)| *p < point);
        self.walk(start, r, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_stay_sorted_through_adds_and_removes() {
        let mut ring = Ring::new(8).expect("vnodes");
        for i in 0..50u32 {
            ring.add(Id::sha1(&i.to_be_bytes())).expect("distinct");
            assert!(ring.points.windows(2).all(|w| w[0] <= w[1]));
        }
        ring.remove(&Id::sha1(&7u32.to_be_bytes())).expect("member");
        assert_eq!(ring.points.len(), 49 * 8);
        let bulk = Ring::with_members(8, &ring.members()).expect("distinct");
        assert_eq!(bulk.points, ring.points);
    }

    #[test]
    fn owners_are_the_first_distinct_members_clockwise() {
        let members: Vec<Id> = (0..20u32).map(|i| Id::sha1(&i.to_be_bytes())).collect();
        let ring = Ring::with_members(4, &members).expect("distinct");
        let key = Id::sha1(b"key");
        let point = digest(&key);
        // By hand: points in ring order from the key's, wrapping.
        let mut order: Vec<(u64, Id)> = ring.points.clone();
        order.sort_by_key(|(p, m)| (p.wrapping_sub(point), *m));
        let mut expected = Vec::new();
        for (_, m) in order {
            if !expected.contains(&m) {
                expected.push(m);
            }
        }
        assert_eq!(ring.owners(&key, 20).expect("r = n"), expected);
        assert_eq!(ring.owners(&key, 3).expect("r <= n"), expected[..3]);
    }

    #[test]
    fn vnode_count_is_checked() {
        assert_eq!(Ring::new(0).err(), Some(PartitionError::BadVnodes(0)));
        assert!(Ring::new(MAX_VNODES + 1).is_err());
        assert_eq!(Ring::new(16).expect("ok").vnodes(), 16);
    }
}
