//! The member table of a one-hop node and the partitioner it feeds.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use crate::id::{Id, NodeInfo, ID_LEN};
use crate::keyspace::{PartitionError, Partitioner, Scheme};
use crate::time::Time;

/// One member as this node knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Where it answers.
    pub addr: SocketAddr,
    /// When it last sent us anything (a query or an answer); its join time before.
    pub last_answer: Time,
    /// Queries to it that went unanswered (after their retries) since its last answer.
    pub failures: u32,
    /// Another member announced it gone: our own ping decides (an answer keeps it,
    /// a miss removes it).
    pub suspected: bool,
}

/// Every member of the overlay (this node among them), its partitioner, and a digest
/// of the set.
///
/// Changes are incremental: a join adds one id to the partitioner, a departure
/// removes one (a ring moves only that member's virtual nodes). The digest is the XOR
/// of SHA-1(id ‖ address) over the members, so two members with the same set have
/// the same digest whatever order they learned it in, and each change updates it in
/// O(1).
#[derive(Debug)]
pub struct Members {
    own: Id,
    table: BTreeMap<Id, Member>,
    partitioner: Box<dyn Partitioner>,
    digest: [u8; ID_LEN],
    /// The digest of each id range ([`range_of`]): what anti-entropy compares to
    /// pull only the ranges that differ.
    range_digests: [[u8; ID_LEN]; RANGES],
    /// Members removed lately, with when: not taken back from another member's list
    /// until the tombstone expires (a signed join always is).
    departed: HashMap<Id, Time>,
}

fn entry_hash(id: &Id, addr: &SocketAddr) -> [u8; ID_LEN] {
    let mut buf = Vec::with_capacity(ID_LEN + 18);
    buf.extend_from_slice(id.as_bytes());
    crate::wire::write_compact_addr(addr, &mut buf);
    *Id::sha1(&buf).as_bytes()
}

/// Id ranges that anti-entropy compares apart: by the first 4 bits of the id.
pub const RANGES: usize = 16;

/// The id range of `id` (see [`RANGES`]).
pub fn range_of(id: &Id) -> usize {
    usize::from(id.as_bytes()[0] >> 4)
}

/// The cursor of a member page that starts at range `r`: the largest id before it
/// (`None` for the first range).
pub fn range_cursor(r: usize) -> Option<Id> {
    let first = u8::try_from(r << 4).ok().filter(|b| *b > 0)?;
    let mut bytes = [0xff; ID_LEN];
    bytes[0] = first - 1;
    Some(Id::from_bytes(bytes))
}

fn xor_into(digest: &mut [u8; ID_LEN], h: &[u8; ID_LEN]) {
    for (d, h) in digest.iter_mut().zip(h) {
        *d ^= h;
    }
}

impl Members {
    /// A table holding only this node (`own` at `addr`), with a partitioner of
    /// `scheme`.
    ///
    /// Errors: the scheme's own (a ring's virtual node count out of range).
    pub fn new(
        own: Id,
        addr: SocketAddr,
        scheme: Scheme,
        now: Time,
    ) -> Result<Members, PartitionError> {
        Ok(Members::with_partitioner(own, addr, scheme.build()?, now))
    }

    /// A table holding only this node, fed to `partitioner` (which should be empty;
    /// members it holds already are left to it).
    pub fn with_partitioner(
        own: Id,
        addr: SocketAddr,
        partitioner: Box<dyn Partitioner>,
        now: Time,
    ) -> Members {
        let mut members = Members {
            own,
            table: BTreeMap::new(),
            partitioner,
            digest: [0; ID_LEN],
            range_digests: [[0; ID_LEN]; RANGES],
            departed: HashMap::new(),
        };
        // A duplicate only if the partitioner held `own` already: it stays a member.
        let _ = members.insert(own, addr, now);
        members
    }

    /// This node's id.
    pub fn own(&self) -> Id {
        self.own
    }

    /// Adds `id` at `addr`, or moves it there; true when the set changed. A member's
    /// id appears once whatever the number of announcements (a duplicate id is the
    /// same member, its address updated).
    ///
    /// Errors: none from a well-kept table; the partitioner's refusal is passed on.
    pub fn insert(&mut self, id: Id, addr: SocketAddr, now: Time) -> Result<bool, PartitionError> {
        self.departed.remove(&id);
        if let Some(m) = self.table.get_mut(&id) {
            if m.addr == addr {
                return Ok(false);
            }
            let old = entry_hash(&id, &m.addr);
            m.addr = addr;
            self.toggle(&id, &old);
            self.toggle(&id, &entry_hash(&id, &addr));
            return Ok(true);
        }
        self.partitioner.add(id)?;
        self.table.insert(
            id,
            Member {
                addr,
                last_answer: now,
                failures: 0,
                suspected: false,
            },
        );
        self.toggle(&id, &entry_hash(&id, &addr));
        Ok(true)
    }

    /// Adds or takes out the entry hash `h` of member `id` from the digests.
    fn toggle(&mut self, id: &Id, h: &[u8; ID_LEN]) {
        xor_into(&mut self.digest, h);
        xor_into(&mut self.range_digests[range_of(id)], h);
    }

    /// Adds `id` from another member's list: refused (false) while it has a
    /// tombstone younger than `tombstone`.
    pub fn insert_listed(
        &mut self,
        id: Id,
        addr: SocketAddr,
        now: Time,
        tombstone: Duration,
    ) -> Result<bool, PartitionError> {
        if self.table.contains_key(&id) && self.table[&id].addr != addr {
            // The member says where it is itself (its signed join); a list does not move it.
            return Ok(false);
        }
        if let Some(&at) = self.departed.get(&id) {
            if now.since(at) < tombstone {
                return Ok(false);
            }
        }
        self.insert(id, addr, now)
    }

    /// Whether `id` was removed less than `tombstone` ago.
    pub fn tombstoned(&self, id: &Id, now: Time, tombstone: Duration) -> bool {
        self.departed
            .get(id)
            .is_some_and(|at| now.since(*at) < tombstone)
    }

    /// Removes `id` (never this node) and leaves a tombstone; true if it was a member.
    pub fn remove(&mut self, id: &Id, now: Time) -> bool {
        if *id == self.own {
            return false;
        }
        let Some(m) = self.table.remove(id) else {
            return false;
        };
        // The table and the partitioner hold the same ids.
        let _ = self.partitioner.remove(id);
        self.toggle(id, &entry_hash(id, &m.addr));
        self.departed.insert(*id, now);
        true
    }

    /// Forgets tombstones older than `tombstone`.
    pub fn expire_tombstones(&mut self, now: Time, tombstone: Duration) {
        self.departed.retain(|_, at| now.since(*at) < tombstone);
    }

    /// Whether `id` is a member.
    pub fn contains(&self, id: &Id) -> bool {
        self.table.contains_key(id)
    }

    /// The member `id`.
    pub fn get(&self, id: &Id) -> Option<&Member> {
        self.table.get(id)
    }

    /// How many members there are, this node included.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Never true: this node is always a member.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The digest of the set (see [`Members`]).
    pub fn digest(&self) -> [u8; ID_LEN] {
        self.digest
    }

    /// The digest of each id range, the same way: two members agree on a range
    /// exactly when they hold its members at the same addresses (but for hash
    /// collisions).
    pub fn range_digests(&self) -> &[[u8; ID_LEN]; RANGES] {
        &self.range_digests
    }

    /// `id` answered at `now`: its failures are forgotten. `None` if not a member;
    /// else whether it was suspected (a departure claimed for it is refuted).
    pub fn heard(&mut self, id: &Id, now: Time) -> Option<bool> {
        let m = self.table.get_mut(id)?;
        m.last_answer = now;
        m.failures = 0;
        Some(std::mem::take(&mut m.suspected))
    }

    /// Marks `id` suspected (see [`Member::suspected`]); false if not a member.
    pub fn suspect(&mut self, id: &Id) -> bool {
        match self.table.get_mut(id) {
            Some(m) if *id != self.own => {
                m.suspected = true;
                true
            }
            _ => false,
        }
    }

    /// A query to `id` went unanswered: its failure count after this one (0 when
    /// it is not a member).
    pub fn missed(&mut self, id: &Id) -> u32 {
        match self.table.get_mut(id) {
            Some(m) if *id != self.own => {
                m.failures += 1;
                m.failures
            }
            _ => 0,
        }
    }

    /// The owners of `key`: `replicas` of them, or every member when there are
    /// fewer, in the partitioner's order of preference.
    pub fn owners(&self, key: &Id, replicas: usize) -> Vec<NodeInfo> {
        let r = replicas.min(self.table.len());
        let ids = self.partitioner.owners(key, r).unwrap_or_default();
        ids.into_iter()
            .filter_map(|id| self.table.get(&id).map(|m| NodeInfo::new(id, m.addr)))
            .collect()
    }

    /// The owners of `key` exactly: [`PartitionError::TooFewMembers`] when
    /// `replicas` exceeds the members.
    pub fn owners_exact(&self, key: &Id, replicas: usize) -> Result<Vec<Id>, PartitionError> {
        self.partitioner.owners(key, replicas)
    }

    /// Up to `count` members whose ids follow `after` (from the first with `None`),
    /// in id order: one page of a member list.
    pub fn page(&self, after: Option<Id>, count: usize) -> Vec<NodeInfo> {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = after.map_or(Unbounded, Excluded);
        self.table
            .range((start, Unbounded))
            .take(count)
            .map(|(id, m)| NodeInfo::new(*id, m.addr))
            .collect()
    }

    /// The member after `after` in id order, wrapping, skipping this node: the
    /// next one to probe.
    pub fn next_after(&self, after: Option<Id>) -> Option<NodeInfo> {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = after.map_or(Unbounded, Excluded);
        self.table
            .range((start, Unbounded))
            .chain(self.table.iter())
            .find(|(id, _)| **id != self.own)
            .map(|(id, m)| NodeInfo::new(*id, m.addr))
    }

    /// The `n`-th member other than this node (modulo their number), for a random pick.
    pub fn nth_other(&self, n: usize) -> Option<NodeInfo> {
        let others = self.table.len().checked_sub(1).filter(|&o| o > 0)?;
        self.table
            .iter()
            .filter(|(id, _)| **id != self.own)
            .nth(n % others)
            .map(|(id, m)| NodeInfo::new(*id, m.addr))
    }

    /// Every member's id, sorted.
    pub fn ids(&self) -> Vec<Id> {
        self.table.keys().copied().collect()
    }

    /// Heap bytes, about: a B-tree entry per member and the partitioner's share.
    pub fn heap_bytes(&self) -> usize {
        self.table.len() * (std::mem::size_of::<(Id, Member)>() + 16 + 2 * ID_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn the_digest_depends_on_the_set_not_the_order() {
        let ids: Vec<Id> = (0..10u8).map(|i| Id::sha1(&[i])).collect();
        let mut a = Members::new(ids[0], addr(1), Scheme::Rendezvous, Time::ZERO).expect("a");
        let mut b = Members::new(ids[0], addr(1), Scheme::Rendezvous, Time::ZERO).expect("b");
        for (i, id) in ids.iter().enumerate().skip(1) {
            a.insert(*id, addr(i as u16 + 1), Time::ZERO)
                .expect("insert");
        }
        for (i, id) in ids.iter().enumerate().skip(1).rev() {
            b.insert(*id, addr(i as u16 + 1), Time::ZERO)
                .expect("insert");
        }
        assert_eq!(a.digest(), b.digest());
        // A duplicate announcement changes nothing; a move changes the digest.
        assert!(!a.insert(ids[3], addr(4), Time::ZERO).expect("dup"));
        assert_eq!(a.len(), 10);
        assert!(a.insert(ids[3], addr(99), Time::ZERO).expect("move"));
        assert_ne!(a.digest(), b.digest());
        assert!(a.remove(&ids[5], Time::ZERO));
        assert!(b.remove(&ids[5], Time::ZERO));
        b.insert(ids[3], addr(99), Time::ZERO).expect("move");
        assert_eq!(a.digest(), b.digest());
        assert_eq!(a.owners(&Id::sha1(b"k"), 3), b.owners(&Id::sha1(b"k"), 3));
    }

    #[test]
    fn range_digests_make_up_the_digest_and_pages_start_at_their_range() {
        let ids: Vec<Id> = (0..40u8).map(|i| Id::sha1(&[i])).collect();
        let mut m = Members::new(ids[0], addr(1), Scheme::Rendezvous, Time::ZERO).expect("m");
        for (i, id) in ids.iter().enumerate().skip(1) {
            m.insert(*id, addr(i as u16 + 1), Time::ZERO)
                .expect("insert");
        }
        let mut whole = [0; ID_LEN];
        for d in m.range_digests() {
            xor_into(&mut whole, d);
        }
        assert_eq!(whole, m.digest());
        // A move changes its range's digest only.
        let before = *m.range_digests();
        let moved = ids[7];
        m.insert(moved, addr(999), Time::ZERO).expect("move");
        for (r, (a, b)) in before.iter().zip(m.range_digests()).enumerate() {
            assert_eq!(a != b, r == range_of(&moved), "range {r}");
        }
        for r in 0..RANGES {
            let page = m.page(range_cursor(r), ids.len());
            let first_in = ids.iter().filter(|id| range_of(id) >= r).min();
            assert_eq!(page.first().map(|n| n.id).as_ref(), first_in, "range {r}");
        }
    }

    #[test]
    fn tombstones_keep_a_departed_member_out_of_lists_but_not_its_join() {
        let own = Id::sha1(b"own");
        let gone = Id::sha1(b"gone");
        let mut m = Members::new(own, addr(1), Scheme::Ring { vnodes: 16 }, Time::ZERO).expect("m");
        m.insert(gone, addr(2), Time::ZERO).expect("insert");
        assert!(m.remove(&gone, Time::ZERO));
        assert!(!m.remove(&own, Time::ZERO), "a node never removes itself");
        let ttl = Duration::from_secs(60);
        let soon = Time::from_millis(1_000);
        assert!(!m.insert_listed(gone, addr(2), soon, ttl).expect("listed"));
        assert!(m.insert(gone, addr(2), soon).expect("signed join"));
        assert!(m.remove(&gone, soon));
        let later = Time::from_millis(62_000);
        m.expire_tombstones(later, ttl);
        assert!(m.insert_listed(gone, addr(2), later, ttl).expect("listed"));
    }

    #[test]
    fn owners_are_capped_by_members_and_exact_owners_say_why_not() {
        let own = Id::sha1(b"own");
        let mut m = Members::new(own, addr(1), Scheme::Xor, Time::ZERO).expect("m");
        m.insert(Id::sha1(b"two"), addr(2), Time::ZERO)
            .expect("insert");
        assert_eq!(m.owners(&Id::sha1(b"k"), 3).len(), 2);
        assert!(matches!(
            m.owners_exact(&Id::sha1(b"k"), 3),
            Err(PartitionError::TooFewMembers {
                wanted: 3,
                members: 2
            })
        ));
        assert_eq!(m.page(None, 1).len(), 1);
        let first = m.page(None, 1)[0].id;
        assert_eq!(m.page(Some(first), 10).len(), 1);
        assert!(m.next_after(Some(own)).is_some_and(|n| n.id != own));
        assert!(m.nth_other(7).is_some_and(|n| n.id != own));
    }
}
