//! [`Xor`]: Kademlia's partitioning, the r members closest to the key by XOR distance.

use super::{
    add_unweighted, begin_owners, insert_sorted, merge_sorted, remove_sorted, PartitionError,
    Partitioner,
};
use crate::id::{Id, ID_BITS, ID_LEN};

/// The r members closest to the key by XOR distance ([`Id::distance`]), closest first:
/// where a Kademlia network stores a value (Maymounkov and Mazières, IPTPS 2002).
///
/// Keys are used as they are, not hashed: the key is a point of the id space, as in
/// Kademlia, so members and keys should be uniform (SHA-1 digests, random ids) for
/// shares to be even. XOR distances from one key are all distinct, so there are no
/// ties.
///
/// Members are kept sorted. A lookup finds the smallest subtree (id prefix) around the
/// key that holds r members with two binary searches and ranks only that subtree:
/// O(log N + r) for uniform ids, O(N) at worst when many members share the key's
/// prefix. Adding or removing a member is a binary search and a shift of the array.
#[derive(Clone, Debug, Default)]
pub struct Xor {
    members: Vec<Id>,
}

impl Xor {
    /// An empty partitioner.
    pub fn new() -> Xor {
        Xor::default()
    }

    /// A partitioner holding `members`; fails on a duplicate.
    pub fn with_members(members: &[Id]) -> Result<Xor, PartitionError> {
        let mut xor = Xor::new();
        xor.add_all(members)?;
        Ok(xor)
    }

    /// The range of members that share the key's first `bits` bits.
    fn subtree(&self, key: &Id, bits: usize) -> &[Id] {
        let lower = with_suffix(key, bits, 0x00);
        let upper = with_suffix(key, bits, 0xff);
        let start = self.members.partition_point(|m| *m < lower);
        let end = self.members.partition_point(|m| *m <= upper);
        &self.members[start..end]
    }

    /// The longest prefix of `key` that at least `r` members share (r ≥ 1, r ≤ N).
    ///
    /// A prefix's members are a contiguous run of the sorted array around the key's
    /// insertion point `p`; the run holds r members exactly when some window of r
    /// consecutive members starting in `p - r ..= p` shares the prefix, which is when
    /// both ends of the window do.
    fn shared_prefix(&self, key: &Id, r: usize) -> usize {
        let n = self.members.len();
        let p = self.members.partition_point(|m| m < key);
        let first = p.saturating_sub(r);
        let last = p.min(n - r);
        (first..=last)
            .map(|j| {
                let lo = key.common_prefix_len(&self.members[j]);
                let hi = key.common_prefix_len(&self.members[j + r - 1]);
                lo.min(hi)
            })
            .max()
            .unwrap_or(0)
    }
}

/// `key` with every bit from position `bits` on set to `fill`'s bits.
fn with_suffix(key: &Id, bits: usize, fill: u8) -> Id {
    let mut bytes = *key.as_bytes();
    if bits >= ID_BITS {
        return *key;
    }
    let whole = bits / 8;
    let keep = !(0xffu8 >> (bits % 8));
    bytes[whole] = (bytes[whole] & keep) | (fill & !keep);
    for byte in &mut bytes[whole + 1..ID_LEN] {
        *byte = fill;
    }
    Id::from_bytes(bytes)
}

impl Partitioner for Xor {
    fn add(&mut self, member: Id) -> Result<(), PartitionError> {
        insert_sorted(&mut self.members, member)
    }

    fn add_weighted(&mut self, member: Id, weight: f64) -> Result<(), PartitionError> {
        add_unweighted(self, "xor", member, weight)
    }

    fn add_all(&mut self, members: &[Id]) -> Result<(), PartitionError> {
        self.members = merge_sorted(&self.members, members)?;
        Ok(())
    }

    fn remove(&mut self, member: &Id) -> Result<(), PartitionError> {
        remove_sorted(&mut self.members, member)
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
        let candidates = self.subtree(key, self.shared_prefix(key, r));
        out.extend_from_slice(candidates);
        let by_distance = |id: &Id| id.distance(key);
        if out.len() > r {
            out.select_nth_unstable_by_key(r - 1, by_distance);
            out.truncate(r);
        }
        out.sort_unstable_by_key(by_distance);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_fill_keeps_the_prefix() {
        let key = Id::MAX;
        assert_eq!(with_suffix(&key, 0, 0), Id::ZERO);
        assert_eq!(with_suffix(&key, ID_BITS, 0), key);
        let half = with_suffix(&key, 4, 0);
        assert_eq!(half.as_bytes()[0], 0xf0);
        assert!(half.as_bytes()[1..].iter().all(|&b| b == 0));
        assert_eq!(
            with_suffix(&Id::ZERO, 12, 0xff).common_prefix_len(&Id::ZERO),
            12
        );
    }

    #[test]
    fn owners_are_the_closest_by_scan() {
        let members: Vec<Id> = (0..300u32).map(|i| Id::sha1(&i.to_be_bytes())).collect();
        let xor = Xor::with_members(&members).expect("distinct");
        for k in 0..200u32 {
            let key = Id::sha1(format!("key {k}").as_bytes());
            let mut by_scan = members.clone();
            by_scan.sort_by_key(|m| m.distance(&key));
            for r in [1, 3, 8, 20] {
                assert_eq!(xor.owners(&key, r).expect("r <= n"), by_scan[..r]);
            }
        }
    }

    #[test]
    fn owners_among_ids_sharing_a_long_prefix() {
        // Small integers share 140 and more leading zero bits: the worst case of the
        // subtree search, which must still be exact.
        let members: Vec<Id> = (0..64u8)
            .map(|i| {
                let mut b = [0u8; ID_LEN];
                b[ID_LEN - 1] = i * 3;
                Id::from_bytes(b)
            })
            .collect();
        let xor = Xor::with_members(&members).expect("distinct");
        for key in [Id::ZERO, Id::MAX, members[7], Id::sha1(b"x")] {
            let mut by_scan = members.clone();
            by_scan.sort_by_key(|m| m.distance(&key));
            assert_eq!(xor.owners(&key, 5).expect("r <= n"), by_scan[..5]);
        }
    }
}
