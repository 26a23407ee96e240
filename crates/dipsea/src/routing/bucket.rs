//! One k-bucket (or the shared group of the deep buckets) and its replacement cache:
//! every BEP 5 state transition on it.
//!
//! A bucket's contacts sit in a [`Live`] store — the lock-free published array of a
//! shallow bucket ([`super::shard`]) or a plain vector for the deep group — and the
//! rest of its state (replacement cache, IPv6 side table, last-changed time) in a
//! [`KBucket`]. The table takes the bucket's writer lock and calls one method here;
//! nothing here takes a lock.

use std::net::{SocketAddr, SocketAddrV6};

use super::contact::{Contact, CONFORMS, PINGING, VERIFIED};
use super::{InsertOutcome, NodeState, TimeoutOutcome};
use crate::id::{bep42, Id, NodeInfo};

/// The table's configuration in the form the hot paths want it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Params {
    /// Contacts per bucket.
    pub k: usize,
    /// Replacement-cache entries per bucket.
    pub cache: usize,
    /// Failures in a row that make a contact bad.
    pub max_fails: u8,
    /// The good-node window in seconds.
    pub window_s: u32,
    /// Keep nodes whose id does not conform to BEP 42 out of the bucket and cache.
    pub enforce_bep42: bool,
}

impl Params {
    /// The BEP 5 state of `c` at `now_s`: bad after `max_fails` failures in a row,
    /// else good if heard from within the window, else questionable.
    #[inline]
    pub fn state(&self, c: &Contact, now_s: u32) -> NodeState {
        if c.fails >= self.max_fails {
            NodeState::Bad
        } else if now_s.saturating_sub(c.last_seen) < self.window_s {
            NodeState::Good
        } else {
            NodeState::Questionable
        }
    }

    /// Whether `c` is bad (the only state test that needs no clock).
    #[inline]
    pub fn is_bad(&self, c: &Contact) -> bool {
        c.fails >= self.max_fails
    }

    /// Whether `node`'s id conforms to BEP 42 for its address, and whether the
    /// table may hold it at all (not when it does not conform under enforcement).
    #[inline]
    pub fn bep42(&self, node: &NodeInfo) -> (bool, bool) {
        let conforms = bep42::id_conforms(&node.id, node.addr.ip());
        (conforms, conforms || !self.enforce_bep42)
    }
}

/// Which bucket of a group an operation is about. A single-bucket group holds only
/// its own bucket; the deep group holds every bucket from its first index on, so
/// its operations filter entries by their bucket index.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scope {
    /// The table owner's id.
    pub own: Id,
    /// The bucket index (common prefix length with `own`).
    pub index: usize,
    /// Whether the group holds several buckets.
    pub shared: bool,
}

impl Scope {
    /// Whether `id` falls in this scope's bucket.
    #[inline]
    pub fn contains(&self, id: &Id) -> bool {
        !self.shared || self.own.common_prefix_len(id) == self.index
    }
}

/// Where a bucket's contacts live; order carries no meaning. Callers never push
/// past the store's capacity (k for a shallow bucket).
pub(super) trait Live {
    /// Number of contacts.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Contact `i < len()`.
    fn get(&self, i: usize) -> Contact;
    /// Overwrites contact `i < len()`.
    fn set(&mut self, i: usize, c: Contact);
    /// Appends a contact.
    fn push(&mut self, c: Contact);
    /// Removes contact `i < len()`, moving the last one into its place.
    fn swap_remove(&mut self, i: usize) -> Contact;
}

impl Live for Vec<Contact> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn get(&self, i: usize) -> Contact {
        self[i]
    }
    fn set(&mut self, i: usize, c: Contact) {
        self[i] = c;
    }
    fn push(&mut self, c: Contact) {
        push_compact(self, c);
    }
    fn swap_remove(&mut self, i: usize) -> Contact {
        Vec::swap_remove(self, i)
    }
}

/// Appends `c`, growing a full vector by a quarter (at least 4), not double: a
/// simulator holds a million tables of a hundred-odd contacts each, and doubling
/// left a quarter of them unused on average.
#[inline]
pub(super) fn push_compact(v: &mut Vec<Contact>, c: Contact) {
    reserve_compact(v);
    v.push(c);
}

/// Makes room for one more contact in `v` as [`push_compact`] grows it.
#[inline]
pub(super) fn reserve_compact(v: &mut Vec<Contact>) {
    if v.len() == v.capacity() {
        v.reserve_exact((v.len() / 4).max(4));
    }
}

/// The contacts of `live`, in store order.
pub(super) fn contacts(live: &dyn Live) -> impl Iterator<Item = Contact> + '_ {
    (0..live.len()).map(move |i| live.get(i))
}

/// A bucket's state beside its contacts. Allocated with the bucket, so an unused
/// bucket costs nothing; the cache only grows once the bucket is full.
#[derive(Debug, Default)]
pub(super) struct KBucket {
    /// The replacement cache: candidates for the bucket, verified (they answered)
    /// or not (they only queried us). No id is both here and in the bucket.
    cache: Vec<Contact>,
    /// When a contact was last added, replaced or answered (seconds); BEP 5's
    /// "last changed", which drives bucket refresh. In a group of several buckets
    /// this is the group's latest change; the table keeps each bucket's own time
    /// beside it (see [`Self::take_touched`]).
    last_changed: u32,
    /// Whether an operation changed the bucket since [`Self::take_touched`] was
    /// last called (fits in padding: no extra bytes).
    touched: bool,
    /// IPv6 endpoints of the contacts and candidates flagged `V6`, keyed by id.
    /// Boxed and rarely allocated: IPv4 tables never touch it.
    #[allow(clippy::box_collection)] // a thin pointer: 8 bytes in every bucket, not 24
    v6: Option<Box<Vec<(Id, SocketAddrV6)>>>,
}

impl KBucket {
    /// When the bucket last changed, in seconds (0: never).
    pub fn last_changed(&self) -> u32 {
        self.last_changed
    }

    /// Records a change at `now_s`.
    #[inline]
    fn touch(&mut self, now_s: u32) {
        self.last_changed = now_s;
        self.touched = true;
    }

    /// Whether the bucket changed since the last call (the time is
    /// [`Self::last_changed`]); clears the mark. A group of several buckets calls it
    /// after each operation to stamp the bucket the operation was about.
    pub fn take_touched(&mut self) -> bool {
        std::mem::take(&mut self.touched)
    }

    /// The endpoint of `c`, a contact or candidate of this bucket.
    #[inline]
    pub fn addr(&self, c: &Contact) -> SocketAddr {
        if c.is_v6() {
            self.v6_addr(&c.id)
        } else {
            c.v4()
        }
    }

    /// `c` as the rest of the crate knows it.
    #[inline]
    pub fn node(&self, c: &Contact) -> NodeInfo {
        NodeInfo::new(c.id, self.addr(c))
    }

    #[cold]
    fn v6_addr(&self, id: &Id) -> SocketAddr {
        let found = self
            .v6
            .as_deref()
            .and_then(|side| side.iter().find(|(i, _)| i == id));
        // Every V6 entry has a side-table row (an invariant the tests check); the
        // unspecified address is only a panic-free fallback.
        found.map_or(SocketAddr::from(([0u16; 8], 0)), |(_, a)| {
            SocketAddr::V6(*a)
        })
    }

    /// Points `c` at `addr`, keeping the side table in step.
    fn assign_addr(&mut self, c: &mut Contact, addr: SocketAddr) {
        let was_v6 = c.is_v6();
        c.set_v4(addr);
        match addr {
            SocketAddr::V6(a) => {
                let side = self.v6.get_or_insert_with(Default::default);
                match side.iter_mut().find(|(i, _)| *i == c.id) {
                    Some(row) => row.1 = a,
                    None => side.push((c.id, a)),
                }
            }
            SocketAddr::V4(_) if was_v6 => self.forget(c),
            SocketAddr::V4(_) => {}
        }
    }

    /// A new entry for `node` (its side-table row too).
    fn make(&mut self, node: NodeInfo, now_s: u32, flags: u8) -> Contact {
        let mut c = Contact::new(node.id, node.addr, now_s, flags);
        self.assign_addr(&mut c, node.addr);
        c
    }

    /// Drops `c`'s side-table row, if any: `c` is leaving the bucket and its cache.
    fn forget(&mut self, c: &Contact) {
        if let Some(side) = self.v6.as_deref_mut() {
            side.retain(|(i, _)| *i != c.id);
            if side.is_empty() {
                self.v6 = None;
            }
        }
    }

    /// Position of `id` among the contacts.
    #[inline]
    fn find_live(live: &dyn Live, id: &Id) -> Option<usize> {
        (0..live.len()).find(|&i| live.get(i).id == *id)
    }

    fn find_cache(&self, id: &Id) -> Option<usize> {
        self.cache.iter().position(|c| c.id == *id)
    }

    /// Number of contacts in the scope's bucket.
    fn live_in(live: &dyn Live, scope: &Scope) -> usize {
        if scope.shared {
            contacts(live).filter(|c| scope.contains(&c.id)).count()
        } else {
            live.len()
        }
    }

    fn cache_in(&self, scope: &Scope) -> usize {
        self.cache.iter().filter(|c| scope.contains(&c.id)).count()
    }

    /// Puts `new` in contact `i`'s place, dropping `i`.
    fn replace_live(&mut self, live: &mut dyn Live, i: usize, new: Contact) {
        let old = live.get(i);
        if old.is_v6() {
            self.forget(&old);
        }
        live.set(i, new);
    }

    /// Takes candidate `j` out of the cache (keeping its side-table row) as a fresh
    /// contact.
    fn take_candidate(&mut self, j: usize) -> Contact {
        let mut c = self.cache.swap_remove(j);
        c.fails = 0;
        c.flags &= !PINGING;
        c
    }

    /// Drops candidate `j` and its side-table row.
    fn drop_candidate(&mut self, j: usize) {
        let c = self.cache.swap_remove(j);
        if c.is_v6() {
            self.forget(&c);
        }
    }

    /// The contact to evict first in the scope's bucket: a bad one, the one with the
    /// most failures, then the stalest.
    fn worst_bad(live: &dyn Live, scope: &Scope, p: &Params) -> Option<usize> {
        contacts(live)
            .enumerate()
            .filter(|(_, c)| p.is_bad(c) && scope.contains(&c.id))
            .max_by_key(|(_, c)| (c.fails, u32::MAX - c.last_seen))
            .map(|(i, _)| i)
    }

    /// The contact a conforming newcomer displaces (BEP 42): a non-conforming one,
    /// the one with the most failures, then the stalest.
    fn worst_nonconforming(live: &dyn Live, scope: &Scope) -> Option<usize> {
        contacts(live)
            .enumerate()
            .filter(|(_, c)| !c.has(CONFORMS) && scope.contains(&c.id))
            .max_by_key(|(_, c)| (c.fails, u32::MAX - c.last_seen))
            .map(|(i, _)| i)
    }

    /// The least recently seen questionable contact not already being pinged.
    fn stalest_questionable(
        live: &dyn Live,
        scope: &Scope,
        p: &Params,
        now_s: u32,
    ) -> Option<usize> {
        contacts(live)
            .enumerate()
            .filter(|(_, c)| {
                !c.has(PINGING)
                    && p.state(c, now_s) == NodeState::Questionable
                    && scope.contains(&c.id)
            })
            .min_by_key(|(_, c)| c.last_seen)
            .map(|(i, _)| i)
    }

    /// The best replacement candidate in the scope: verified before unverified, then
    /// conforming to BEP 42 before not, then the most recently seen; with
    /// `verified_only`, only verified ones.
    fn best_cached(&self, scope: &Scope, verified_only: bool) -> Option<usize> {
        self.cache
            .iter()
            .enumerate()
            .filter(|(_, c)| (!verified_only || c.has(VERIFIED)) && scope.contains(&c.id))
            .max_by_key(|(_, c)| (c.has(VERIFIED), c.has(CONFORMS), c.last_seen))
            .map(|(j, _)| j)
    }

    /// Adds `node` to the replacement cache with `flags`. When the scope's cache is
    /// full the worst entry (unverified before verified, then non-conforming before
    /// conforming, then the stalest) makes room, unless it is better than the
    /// newcomer. Returns whether `node` was kept.
    fn cache_insert(
        &mut self,
        node: NodeInfo,
        now_s: u32,
        flags: u8,
        scope: &Scope,
        p: &Params,
    ) -> bool {
        if p.cache == 0 {
            return false;
        }
        if self.cache_in(scope) >= p.cache {
            let conforms = bep42::id_conforms(&node.id, node.addr.ip());
            let key = (flags & VERIFIED != 0, conforms, now_s);
            let worst = self
                .cache
                .iter()
                .enumerate()
                .filter(|(_, c)| scope.contains(&c.id))
                .map(|(j, c)| (j, (c.has(VERIFIED), c.has(CONFORMS), c.last_seen)))
                .min_by_key(|(_, key)| *key);
            match worst {
                Some((j, worst)) if worst <= key => self.drop_candidate(j),
                _ => return false,
            }
        }
        let c = self.make(node, now_s, flags);
        push_compact(&mut self.cache, c);
        true
    }

    /// `node` answered one of our queries. See [`super::RoutingTable::on_response`].
    pub fn on_response(
        &mut self,
        live: &mut dyn Live,
        node: NodeInfo,
        now_s: u32,
        scope: &Scope,
        p: &Params,
    ) -> InsertOutcome {
        let (conforms, admitted) = p.bep42(&node);
        if !admitted {
            return InsertOutcome::Ignored;
        }
        if let Some(i) = Self::find_live(live, &node.id) {
            let mut c = live.get(i);
            if self.addr(&c) != node.addr {
                // Address rule: a good contact keeps its endpoint (the answer from
                // elsewhere may be spoofed or a stale NAT mapping); a questionable or
                // bad one moves to the endpoint that just proved itself.
                if p.state(&c, now_s) == NodeState::Good {
                    return InsertOutcome::Ignored;
                }
                self.assign_addr(&mut c, node.addr);
            }
            c.last_seen = now_s;
            c.fails = 0;
            c.flags &= !PINGING;
            live.set(i, c);
            self.touch(now_s);
            return InsertOutcome::Updated;
        }
        if let Some(j) = self.find_cache(&node.id) {
            // It answered: it leaves the cache and is handled as a verified newcomer.
            self.drop_candidate(j);
        }
        if Self::live_in(live, scope) < p.k {
            let c = self.make(node, now_s, VERIFIED);
            live.push(c);
            self.touch(now_s);
            return InsertOutcome::Added;
        }
        if let Some(b) = Self::worst_bad(live, scope, p) {
            let c = self.make(node, now_s, VERIFIED);
            self.replace_live(live, b, c);
            self.touch(now_s);
            return InsertOutcome::Added;
        }
        if let Some(w) = conforms
            .then(|| Self::worst_nonconforming(live, scope))
            .flatten()
        {
            // BEP 42: a conforming id outranks a non-conforming one, whatever the
            // latter's state; the displaced contact is dropped.
            let c = self.make(node, now_s, VERIFIED);
            self.replace_live(live, w, c);
            self.touch(now_s);
            return InsertOutcome::Added;
        }
        let cached = self.cache_insert(node, now_s, VERIFIED, scope, p);
        self.ping_stalest(live, scope, p, now_s, cached)
    }

    /// After caching a newcomer in a full bucket: asks for a ping of the least
    /// recently seen questionable contact (ping-before-evict), if any is not already
    /// being pinged.
    fn ping_stalest(
        &mut self,
        live: &mut dyn Live,
        scope: &Scope,
        p: &Params,
        now_s: u32,
        cached: bool,
    ) -> InsertOutcome {
        match Self::stalest_questionable(live, scope, p, now_s) {
            Some(q) => {
                let mut c = live.get(q);
                c.flags |= PINGING;
                live.set(q, c);
                InsertOutcome::Ping(self.node(&c))
            }
            None if cached => InsertOutcome::Cached,
            None => InsertOutcome::Ignored,
        }
    }

    /// `node` sent us a query (not read-only). See [`super::RoutingTable::on_query`].
    pub fn on_query(
        &mut self,
        live: &mut dyn Live,
        node: NodeInfo,
        now_s: u32,
        scope: &Scope,
        p: &Params,
    ) -> InsertOutcome {
        let (conforms, admitted) = p.bep42(&node);
        if !admitted {
            return InsertOutcome::Ignored;
        }
        if let Some(i) = Self::find_live(live, &node.id) {
            let mut c = live.get(i);
            if self.addr(&c) == node.addr {
                // It answered before and queried us now: good again (BEP 5). A query
                // does not clear failures; only an answer does.
                c.last_seen = now_s;
                live.set(i, c);
                return InsertOutcome::Updated;
            }
            // An unverified endpoint never replaces a contact's. If the contact is
            // not good, verify the new endpoint; its answer moves the contact there.
            return if p.state(&c, now_s) == NodeState::Good || c.has(PINGING) {
                InsertOutcome::Ignored
            } else {
                InsertOutcome::Ping(node)
            };
        }
        // A conforming stranger may displace a non-conforming contact (BEP 42) once
        // it has answered, so its bucket counts as having room for it.
        let has_room = Self::live_in(live, scope) < p.k
            || Self::worst_bad(live, scope, p).is_some()
            || (conforms && Self::worst_nonconforming(live, scope).is_some());
        if let Some(j) = self.find_cache(&node.id) {
            if self.addr(&self.cache[j]) != node.addr {
                // Candidates keep their endpoint too.
                return InsertOutcome::Ignored;
            }
            let c = &mut self.cache[j];
            c.last_seen = now_s;
            if has_room && !c.has(VERIFIED) && !c.has(PINGING) {
                c.flags |= PINGING;
                return InsertOutcome::Ping(node);
            }
            return InsertOutcome::Cached;
        }
        if has_room {
            // Room for it, but only nodes that answered belong in the bucket: ask for
            // a ping, whose answer adds it. The cache entry (marked as being pinged)
            // keeps repeated queries from asking for more pings.
            let _ = self.cache_insert(node, now_s, PINGING, scope, p);
            return InsertOutcome::Ping(node);
        }
        if self.cache_insert(node, now_s, 0, scope, p) {
            self.ping_stalest(live, scope, p, now_s, true)
        } else {
            InsertOutcome::Ignored
        }
    }

    /// `node` was named in an answer. See [`super::RoutingTable::on_heard`].
    pub fn on_heard(
        &mut self,
        live: &mut dyn Live,
        node: NodeInfo,
        now_s: u32,
        scope: &Scope,
        p: &Params,
    ) -> InsertOutcome {
        let (_, admitted) = p.bep42(&node);
        // One ping at a time per empty bucket: the first answer fills it.
        let pinging = self
            .cache
            .iter()
            .any(|c| c.has(PINGING) && scope.contains(&c.id));
        if !admitted
            || pinging
            || Self::live_in(live, scope) > 0
            || self.find_cache(&node.id).is_some()
        {
            return InsertOutcome::Ignored;
        }
        if self.cache_insert(node, now_s, PINGING, scope, p) {
            InsertOutcome::Ping(node)
        } else {
            InsertOutcome::Ignored
        }
    }

    /// A query to `id` failed. See [`super::RoutingTable::on_timeout`].
    pub fn on_timeout(
        &mut self,
        live: &mut dyn Live,
        id: &Id,
        now_s: u32,
        scope: &Scope,
        p: &Params,
    ) -> TimeoutOutcome {
        let Some(i) = Self::find_live(live, id) else {
            return match self.find_cache(id) {
                Some(j) => {
                    // A candidate that does not answer is no candidate.
                    self.drop_candidate(j);
                    TimeoutOutcome::Dropped
                }
                None => TimeoutOutcome::Ignored,
            };
        };
        let mut c = live.get(i);
        c.fails = c.fails.saturating_add(1);
        if c.has(PINGING) {
            // It was questionable and failed the ping-before-evict: BEP 5 replaces it
            // now rather than after several failures.
            c.fails = c.fails.max(p.max_fails);
            c.flags &= !PINGING;
        }
        live.set(i, c);
        if !p.is_bad(&c) {
            return TimeoutOutcome::Failed;
        }
        if let Some(j) = self.best_cached(scope, true) {
            let by = self.take_candidate(j);
            self.replace_live(live, i, by);
            self.touch(now_s);
            return TimeoutOutcome::Replaced(self.node(&by));
        }
        match self.best_cached(scope, false) {
            Some(j) if !self.cache[j].has(PINGING) => {
                // Only unverified candidates: verify the best; its answer replaces
                // the bad contact.
                self.cache[j].flags |= PINGING;
                TimeoutOutcome::Ping(self.node(&self.cache[j]))
            }
            _ => TimeoutOutcome::Bad,
        }
    }

    /// Removes `id` from the bucket or its cache; a contact's place goes to the best
    /// verified candidate. Returns the removed node.
    pub fn remove(
        &mut self,
        live: &mut dyn Live,
        id: &Id,
        now_s: u32,
        scope: &Scope,
    ) -> Option<NodeInfo> {
        if let Some(i) = Self::find_live(live, id) {
            let node = self.node(&live.get(i));
            match self.best_cached(scope, true) {
                Some(j) => {
                    let by = self.take_candidate(j);
                    self.replace_live(live, i, by);
                    self.touch(now_s);
                }
                None => {
                    let old = live.swap_remove(i);
                    if old.is_v6() {
                        self.forget(&old);
                    }
                }
            }
            return Some(node);
        }
        let j = self.find_cache(id)?;
        let node = self.node(&self.cache[j]);
        self.drop_candidate(j);
        Some(node)
    }

    /// Heap bytes of the cache and side table (capacities; allocator overhead not
    /// counted).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.cache.capacity() * size_of::<Contact>()
            + self.v6.as_deref().map_or(0, |side| {
                size_of::<Vec<(Id, SocketAddrV6)>>()
                    + side.capacity() * size_of::<(Id, SocketAddrV6)>()
            })
    }

    /// Checks the bucket's internal invariants (tests only).
    #[cfg(test)]
    pub fn check(&self, live: &dyn Live, scope_of: impl Fn(&Id) -> Scope, p: &Params) {
        let all: Vec<Contact> = contacts(live).chain(self.cache.iter().copied()).collect();
        for (n, c) in all.iter().enumerate() {
            let scope = scope_of(&c.id);
            assert!(scope.contains(&c.id), "entry in the wrong bucket");
            assert_ne!(c.id, scope.own, "own id in the table");
            if n < live.len() {
                assert!(c.has(VERIFIED), "unverified contact");
            }
            let conforms = bep42::id_conforms(&c.id, self.addr(c).ip());
            assert_eq!(c.has(CONFORMS), conforms, "BEP 42 flag out of step");
            assert!(
                conforms || !p.enforce_bep42,
                "non-conforming id under enforcement"
            );
            assert_eq!(
                all.iter().filter(|o| o.id == c.id).count(),
                1,
                "duplicate id"
            );
            let side = self
                .v6
                .as_deref()
                .map_or(0, |s| s.iter().filter(|(i, _)| *i == c.id).count());
            assert_eq!(side, usize::from(c.is_v6()), "side table out of step");
            assert!(Self::live_in(live, &scope) <= p.k, "bucket over k");
            assert!(self.cache_in(&scope) <= p.cache, "cache over its bound");
        }
        let side_rows = self.v6.as_deref().map_or(0, Vec::len);
        assert_eq!(side_rows, all.iter().filter(|c| c.is_v6()).count());
    }
}
