//! The Kademlia routing table: k-buckets of the contacts a node knows, with BEP 5's
//! node states, replacement caches and ping-before-evict.
//!
//! Entry point: [`RoutingTable`]. The node feeds it events — [`RoutingTable::on_response`]
//! (a node answered us), [`RoutingTable::on_query`] (a node queried us),
//! [`RoutingTable::on_timeout`] (a query failed) — and asks it for the contacts
//! closest to a target ([`RoutingTable::closest`]). It is sans-I/O: when it wants a
//! node pinged it says so in its return value ([`InsertOutcome::Ping`]) and the
//! caller reports the result back as another event.
//!
//! # Buckets
//!
//! Bucket `i` holds contacts whose ids share exactly `i` leading bits with the
//! owner's id (`Id::common_prefix_len`); the owner's id is never inserted. Each
//! holds at most k (= [`K`]) contacts, only nodes that answered one of our queries,
//! plus a bounded replacement cache of candidates. Buckets are allocated when first
//! used, so an empty table is a few hundred bytes. The buckets from
//! [`DEEP_BUCKETS`] on form one group under one lock: in a network of N nodes
//! bucket `i` expects N / 2^(i+1) nodes, so they are practically always empty.
//! [`RoutingConfig::sharded_buckets`] moves that boundary nearer (the simulator
//! puts every bucket in the group, whose one vector is sized to what it holds).
//!
//! # Locks
//!
//! All methods take `&self` and the table is `Send + Sync`. Each bucket below
//! [`DEEP_BUCKETS`] has its own `parking_lot::Mutex`, taken by writers (the events,
//! [`RoutingTable::remove`]) and by the bookkeeping reads (`get`, `contacts`, `len`,
//! ...); the deep group has one `parking_lot::RwLock`. [`RoutingTable::closest`], the
//! hot path, takes no lock on a shallow bucket: it reads the bucket's published
//! contacts under a sequence counter (a seqlock made of atomics, see `shard.rs`)
//! and retries if a writer intervened, so concurrent lookups never write a shared
//! cache line and never wait, even on the same bucket.
//!
//! **No method holds two locks at once**: each locks one bucket, works, and unlocks
//! it before locking the next, so there is no lock order to get wrong and
//! operations on different buckets never wait on each other. A method that walks
//! several buckets (e.g. [`RoutingTable::len`]) therefore sees each at a slightly
//! different moment; under concurrent updates its answer is a blend of those
//! moments, never a torn bucket.
//!
//! # Node states (BEP 5)
//!
//! A contact is *good* if it answered one of our queries in the last
//! [`GOOD_WINDOW`], or answered once and queried us in that window; *questionable*
//! once that window passes in silence; *bad* after [`MAX_FAILURES`] failed queries
//! in a row ([`NodeState`]). Only an answer clears the failure count. A node that
//! has only queried us is not put in a bucket: it goes to the replacement cache and,
//! if its bucket has room, the table asks for a ping whose answer adds it.
//!
//! # BEP 42 node ids
//!
//! The table prefers contacts whose id conforms to their address
//! ([`crate::id::bep42::id_conforms`]; local addresses always conform). When a
//! conforming node answers us and its bucket is full with no bad contact, it takes
//! the place of the bucket's worst non-conforming contact (most failures, then the
//! stalest), whatever that one's state: BEP 42 ranks a conforming id above BEP 5's
//! "never evict a good node". A conforming node that only queried us is asked for
//! a ping in that case, whose answer makes the swap. Replacement candidates are
//! ranked verified first, then conforming, then the most recently seen. With
//! [`RoutingConfig::enforce_bep42`], non-conforming nodes at public addresses are
//! ignored altogether.

mod bucket;
mod contact;
mod shard;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use parking_lot::RwLock;
use rand::Rng;

use crate::id::{Id, NodeInfo, ID_BITS};
use crate::time::Time;
use bucket::{contacts, KBucket, Live, Params, Scope};
use contact::{secs, Contact};
use shard::Shard;

/// Contacts per bucket, and how many nodes store each value: k = 8.
///
/// BEP 5: "Each bucket can only hold K nodes, currently eight." The Kademlia paper
/// (Maymounkov and Mazières, 2002, section 2.2) picks k so that any k nodes are
/// unlikely to fail within an hour of each other; Mainline settled on 8.
pub const K: usize = 8;

/// Failed queries in a row after which a contact is bad.
///
/// BEP 5: "Nodes become bad when they fail to respond to multiple queries in a
/// row", without fixing the number; three tolerates a lost datagram or two while
/// keeping dead contacts from lingering. (A questionable contact that fails the
/// ping-before-evict is bad at once, as BEP 5's replacement procedure says.)
pub const MAX_FAILURES: u8 = 3;

/// How long a contact stays good after it answered us (or, having answered once,
/// queried us): 15 minutes.
///
/// BEP 5: "A good node is a node has responded to one of our queries within the last
/// 15 minutes ... After 15 minutes of inactivity, a node becomes questionable."
pub const GOOD_WINDOW: Duration = Duration::from_secs(15 * 60);

/// How long a bucket may go unchanged before it should be refreshed: 15 minutes.
///
/// BEP 5: "Buckets that have not been changed in 15 minutes should be 'refreshed'."
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Number of buckets: one per possible common prefix length of two distinct ids.
pub const BUCKETS: usize = ID_BITS;

/// The first bucket index that shares the deep group's lock.
///
/// Bucket `i` expects N / 2^(i+1) of N nodes, so from index 32 on a bucket is empty
/// unless the network has billions of nodes (or someone mines ids near ours). One
/// group keeps an empty table small without slowing the buckets that matter.
pub const DEEP_BUCKETS: usize = 32;

/// Lock groups: one per bucket below [`DEEP_BUCKETS`], and the deep group (group
/// number `DEEP_BUCKETS`).
const GROUPS: usize = DEEP_BUCKETS + 1;

/// Bit of the deep group in [`RoutingTable::nonempty`]; shallow bucket `i` uses bit
/// `31 - i`, so that its order matches the bits of a distance's first 32 bits.
const DEEP_BIT: u64 = 1 << 32;

/// The routing table's knobs. The defaults are BEP 5's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingConfig {
    /// Contacts per bucket (default [`K`]; clamped to 1..=1024).
    pub k: usize,
    /// Failed queries in a row that make a contact bad (default [`MAX_FAILURES`];
    /// at least 1).
    pub max_failures: u8,
    /// Replacement candidates kept per bucket (default [`K`]; 0 disables the
    /// cache; at most 1024).
    pub replacement_cache: usize,
    /// How long a contact stays good after it was last heard from (default
    /// [`GOOD_WINDOW`]; second resolution).
    pub good_window: Duration,
    /// BEP 42 enforcement (default false): when true, a node whose id does not
    /// conform to its public address ([`crate::id::bep42::id_conforms`]) never enters
    /// the table or its replacement cache, so it is never returned in answers
    /// either. Off by default, as in deployed clients, which only prefer conforming
    /// ids (see the [module docs](self)): many honest nodes still use random ids.
    pub enforce_bep42: bool,
    /// Buckets, from the farthest, that get a lock and a contact array of their own,
    /// read by lookups without locking (default and most: [`DEEP_BUCKETS`]); the
    /// buckets from this index on share one lock and one vector sized to what they
    /// hold. A bucket of its own keeps room for k contacts however few it holds, so
    /// a simulator, which holds a million tables and drives them from one thread,
    /// sets 0: every bucket then shares one vector (a table of 30 contacts takes
    /// about 1 KB instead of 4). Each bucket of the shared group keeps its own
    /// "last changed" time (4 bytes), which drives its refresh.
    pub sharded_buckets: usize,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            k: K,
            max_failures: MAX_FAILURES,
            replacement_cache: K,
            good_window: GOOD_WINDOW,
            enforce_bep42: false,
            sharded_buckets: DEEP_BUCKETS,
        }
    }
}

impl RoutingConfig {
    fn params(&self) -> Params {
        Params {
            k: self.k.clamp(1, 1024),
            cache: self.replacement_cache.min(1024),
            max_fails: self.max_failures.max(1),
            window_s: u32::try_from(self.good_window.as_secs()).unwrap_or(u32::MAX),
            enforce_bep42: self.enforce_bep42,
        }
    }
}

/// A contact's BEP 5 state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// Answered one of our queries within the good window, or answered once and
    /// queried us within it.
    Good,
    /// Silent for the whole good window: worth a ping before relying on it.
    Questionable,
    /// Failed [`RoutingConfig::max_failures`] queries in a row (or a
    /// ping-before-evict): replaced by the next node that fits its bucket, and never
    /// returned by [`RoutingTable::closest`].
    Bad,
}

/// What [`RoutingTable::on_response`] or [`RoutingTable::on_query`] did.
#[must_use = "a Ping asks the caller to send a ping and report its result"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The node was added to its bucket.
    Added,
    /// The node was already a contact; its last-seen time (and, on an answer, its
    /// failure count) was updated.
    Updated,
    /// Ping this node, then report the answer with [`RoutingTable::on_response`] or
    /// the failure with [`RoutingTable::on_timeout`]. It is either the least recently
    /// seen questionable contact of a full bucket (ping-before-evict: the newcomer
    /// waits in the replacement cache, and if the ping fails the best candidate
    /// takes the contact's place), or a node that only queried us (possibly this
    /// newcomer, or a contact's new endpoint) and must answer before it may enter
    /// the table. The table asks for each such ping once, until its result comes.
    Ping(NodeInfo),
    /// The bucket is full of good contacts (or ones already being pinged); the node
    /// waits in the replacement cache.
    Cached,
    /// Nothing changed: the own id, a read-only node, an unverified endpoint for a
    /// good contact, a candidate worse than the whole cache, or (with
    /// [`RoutingConfig::enforce_bep42`]) an id that does not conform to BEP 42.
    Ignored,
}

/// What [`RoutingTable::on_timeout`] did.
#[must_use = "a Ping asks the caller to send a ping and report its result"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutOutcome {
    /// The id is neither a contact nor a replacement candidate.
    Ignored,
    /// The failure was counted; the contact is not bad yet.
    Failed,
    /// The contact is now bad and stays until a newcomer replaces it (no candidate
    /// is waiting). [`RoutingTable::closest`] no longer returns it.
    Bad,
    /// The contact was bad and the best verified replacement candidate took its
    /// place: this node.
    Replaced(NodeInfo),
    /// The contact is now bad; the only candidates have not answered us yet, so ping
    /// this one and report the result: its answer replaces the bad contact.
    Ping(NodeInfo),
    /// The id was a replacement candidate; it has been dropped from the cache.
    Dropped,
}

/// A contact as [`RoutingTable::get`] and [`RoutingTable::contacts`] report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Id and endpoint.
    pub node: NodeInfo,
    /// When it last answered us or queried us (second resolution).
    pub last_seen: Time,
    /// Queries to it that failed in a row.
    pub failures: u8,
}

impl Entry {
    /// The contact's state at `now` under `config`.
    pub fn state(&self, now: Time, config: &RoutingConfig) -> NodeState {
        let p = config.params();
        if self.failures >= p.max_fails {
            NodeState::Bad
        } else if secs(now).saturating_sub(secs(self.last_seen)) < p.window_s {
            // Whole seconds, exactly as the table itself judges.
            NodeState::Good
        } else {
            NodeState::Questionable
        }
    }
}

/// The deep group: buckets from `sharded_buckets` on in one vector, filtered by
/// index.
#[derive(Debug, Default)]
struct Deep {
    /// The group's contacts, ordered by bucket index (common prefix length with the
    /// owner's id), so that each bucket is one run of the vector and an operation on
    /// a bucket scans only its run (a simulated table keeps a hundred-odd contacts
    /// here, and every packet a node gets runs one such operation). Order within a
    /// run carries no meaning.
    live: Vec<Contact>,
    bucket: KBucket,
    /// Each bucket's own last-changed time (seconds; 0: never), indexed by bucket
    /// index less the group's first, up to the deepest bucket ever changed: 4 bytes
    /// a bucket, so that a table with every bucket in the group (the simulator's)
    /// still refreshes each bucket on its own schedule.
    changed: Vec<u32>,
    /// How many contacts each bucket's run holds, indexed as `changed` (up to the
    /// deepest bucket ever holding one): a run's bounds are sums over this short
    /// vector, so that finding one does not read the contacts (a binary search
    /// over them, a cache miss a probe on a node not touched lately, took a tenth
    /// of a simulated network's time).
    lens: Vec<u16>,
}

impl Deep {
    /// Positions in `live` of the run of the bucket at `offset` (index less the
    /// group's first); empty where it would go.
    fn run(&self, offset: usize) -> std::ops::Range<usize> {
        let before = self.lens.get(..offset).unwrap_or(&self.lens);
        let lo: usize = before.iter().map(|&n| usize::from(n)).sum();
        lo..lo + self.run_len(offset)
    }

    /// How many contacts the bucket at `offset` holds.
    fn run_len(&self, offset: usize) -> usize {
        self.lens.get(offset).map_or(0, |&n| usize::from(n))
    }

    /// Records that the run of the bucket at `offset` now holds `len` contacts.
    fn set_len(&mut self, offset: usize, len: usize) {
        if self.lens.len() <= offset {
            if len == 0 {
                return;
            }
            self.lens.resize(offset + 1, 0);
        }
        // At most k (1,024) contacts a bucket.
        self.lens[offset] = u16::try_from(len).unwrap_or(u16::MAX);
    }

    /// Stamps bucket `offset` (index less the group's first) as changed at `now_s`.
    fn stamp(&mut self, offset: usize, now_s: u32) {
        if self.changed.len() <= offset {
            self.changed.resize(offset + 1, 0);
        }
        self.changed[offset] = now_s;
    }
}

/// A node's k-bucket routing table, lock-sharded by bucket. See the [module
/// docs](self) for the buckets, the locks and the node states.
///
/// ```
/// use dipsea::routing::{InsertOutcome, RoutingConfig, RoutingTable};
/// use dipsea::{Id, NodeInfo, Time};
///
/// let table = RoutingTable::new(Id::random(), RoutingConfig::default());
/// let node = NodeInfo::new(Id::random(), "10.0.0.1:6881".parse().unwrap());
/// assert_eq!(table.on_response(node, Time::ZERO), InsertOutcome::Added);
/// assert_eq!(table.closest_vec(&node.id, 8), vec![node]);
/// ```
#[derive(Debug)]
pub struct RoutingTable {
    own: Id,
    params: Params,
    config: RoutingConfig,
    /// Which groups have contacts (see [`DEEP_BIT`]), so that a lookup skips empty
    /// buckets without touching them. Written only when a group turns empty or
    /// non-empty, under that group's lock.
    nonempty: AtomicU64,
    /// Bucket `i < sharded_buckets` (at most [`DEEP_BUCKETS`]), allocated on first
    /// use; the others are in the deep group.
    shallow: Box<[OnceLock<Box<Shard>>]>,
    /// The deep group, allocated on first use.
    deep: RwLock<Option<Box<Deep>>>,
}

impl RoutingTable {
    /// An empty table owned by `own`.
    pub fn new(own: Id, config: RoutingConfig) -> RoutingTable {
        let shallow = (0..config.sharded_buckets.min(DEEP_BUCKETS))
            .map(|_| OnceLock::new())
            .collect();
        RoutingTable {
            own,
            params: config.params(),
            config,
            nonempty: AtomicU64::new(0),
            shallow,
            deep: RwLock::new(None),
        }
    }

    /// The owner's id.
    pub fn own_id(&self) -> &Id {
        &self.own
    }

    /// The configuration the table was built with.
    pub fn config(&self) -> &RoutingConfig {
        &self.config
    }

    /// The bucket `id` belongs in, `None` for the owner's id.
    pub fn bucket_index(&self, id: &Id) -> Option<usize> {
        let cpl = self.own.common_prefix_len(id);
        (cpl < BUCKETS).then_some(cpl)
    }

    fn scope(&self, index: usize) -> (usize, Scope) {
        let group = if index < self.shallow.len() {
            index
        } else {
            DEEP_BUCKETS
        };
        let scope = Scope {
            own: self.own,
            index,
            shared: group == DEEP_BUCKETS,
        };
        (group, scope)
    }

    /// Where bucket `index` (in the deep group) sits among the group's buckets.
    fn deep_offset(&self, index: usize) -> usize {
        index - self.shallow.len()
    }

    fn group_bit(group: usize) -> u64 {
        if group == DEEP_BUCKETS {
            DEEP_BIT
        } else {
            1 << (31 - group)
        }
    }

    /// Records whether `group` has contacts; called under the group's lock.
    fn mark(&self, group: usize, was_empty: bool, is_empty: bool) {
        if was_empty != is_empty {
            let bit = Self::group_bit(group);
            if is_empty {
                self.nonempty.fetch_and(!bit, Ordering::Relaxed);
            } else {
                self.nonempty.fetch_or(bit, Ordering::Relaxed);
            }
        }
    }

    /// Runs `f` on `id`'s bucket under its writer lock (the bucket's mutex, or the
    /// deep group's write lock), keeping the non-empty mask in step. A bucket never
    /// used is allocated if `create`, else `None` is returned, as for the owner's id.
    fn write<R>(
        &self,
        id: &Id,
        create: bool,
        f: impl FnOnce(&mut KBucket, &mut dyn Live, &Scope) -> R,
    ) -> Option<R> {
        let (group, scope) = self.scope(self.bucket_index(id)?);
        if let Some(slot) = self.shallow.get(group) {
            let shard = match slot.get() {
                Some(shard) => shard,
                None if create => slot.get_or_init(|| Box::new(Shard::new(self.params.k))),
                None => return None,
            };
            let mut bucket = shard.bucket.lock();
            let mut live = shard.published();
            let was_empty = live.is_empty();
            let r = f(&mut bucket, &mut live, &scope);
            self.mark(group, was_empty, live.is_empty());
            return Some(r);
        }
        let mut guard = self.deep.write();
        if guard.is_none() && !create {
            return None;
        }
        let deep = &mut **guard.get_or_insert_with(Default::default);
        let was_empty = deep.live.is_empty();
        let offset = self.deep_offset(scope.index);
        let run = deep.run(offset);
        let mut view = Run {
            vec: &mut deep.live,
            lo: run.start,
            hi: run.end,
        };
        let r = f(&mut deep.bucket, &mut view, &scope);
        let len = view.hi - view.lo;
        deep.set_len(offset, len);
        self.mark(group, was_empty, deep.live.is_empty());
        if deep.bucket.take_touched() {
            let now_s = deep.bucket.last_changed();
            deep.stamp(offset, now_s);
        }
        Some(r)
    }

    /// Runs `f` on a group under its lock (the mutex of a shallow bucket, the read
    /// lock of the deep group), if the group was ever used.
    fn inspect<R>(&self, group: usize, f: impl FnOnce(&KBucket, &dyn Live) -> R) -> Option<R> {
        if group < DEEP_BUCKETS {
            let shard = self.shallow.get(group)?.get()?;
            let bucket = shard.bucket.lock();
            return Some(f(&bucket, &shard.published()));
        }
        let guard = self.deep.read();
        let deep = guard.as_deref()?;
        Some(f(&deep.bucket, &deep.live))
    }

    /// `node` answered one of our queries at `now`: it is (again) a good contact.
    ///
    /// A known contact gets its last-seen time updated and its failures cleared
    /// ([`InsertOutcome::Updated`]). A newcomer is added if its bucket has room or a
    /// bad contact to replace; otherwise it waits in the replacement cache and, if
    /// some contact is questionable, the least recently seen one is to be pinged
    /// ([`InsertOutcome::Ping`]). Good contacts are never evicted for newcomers.
    ///
    /// Same id, new endpoint: a good contact keeps its endpoint (the answer may be
    /// spoofed); a questionable or bad one moves to the endpoint that answered.
    ///
    /// BEP 42: a conforming newcomer may displace a non-conforming contact of a
    /// full bucket, and with [`RoutingConfig::enforce_bep42`] a non-conforming node
    /// is [`InsertOutcome::Ignored`] (see the [module docs](self)).
    ///
    /// Locks: the writer lock of `node`'s bucket.
    pub fn on_response(&self, node: NodeInfo, now: Time) -> InsertOutcome {
        let (p, now_s) = (self.params, secs(now));
        self.write(&node.id, true, |b, live, s| {
            b.on_response(live, node, now_s, s, &p)
        })
        .unwrap_or(InsertOutcome::Ignored)
    }

    /// `node` sent us a query at `now`; `read_only` is BEP 43's `ro` flag.
    ///
    /// Read-only nodes are ignored. A known contact at the same endpoint counts as
    /// heard from (a node that answered once and queries us is good, BEP 5); at
    /// another endpoint it is ignored if good, and that endpoint is to be pinged
    /// otherwise — an unverified endpoint never replaces a contact's. A stranger is
    /// not added (it has not answered us): it goes to the replacement cache, and if
    /// its bucket has room it is to be pinged ([`InsertOutcome::Ping`]), whose answer
    /// adds it; if the bucket is full, a questionable contact may be pinged instead
    /// (or, for a conforming stranger in a bucket holding a non-conforming contact,
    /// the stranger itself: BEP 42). With [`RoutingConfig::enforce_bep42`] a
    /// non-conforming node is ignored.
    ///
    /// Locks: the writer lock of `node`'s bucket (none for read-only nodes).
    pub fn on_query(&self, node: NodeInfo, now: Time, read_only: bool) -> InsertOutcome {
        if read_only {
            return InsertOutcome::Ignored;
        }
        let (p, now_s) = (self.params, secs(now));
        self.write(&node.id, true, |b, live, s| {
            b.on_query(live, node, now_s, s, &p)
        })
        .unwrap_or(InsertOutcome::Ignored)
    }

    /// `node` was named in an answer at `now` (heard of, not heard from). If its
    /// bucket is empty and it is not a candidate already, it goes to the replacement
    /// cache and is to be pinged ([`InsertOutcome::Ping`]), whose answer adds it: a
    /// table learns one contact in each subtree it hears of, at one ping each.
    ///
    /// Locks: none when `node`'s bucket is a single-bucket group with contacts (the
    /// usual case: each answer names eight nodes), the deep group's read lock when
    /// its bucket there has contacts; else the writer lock of its bucket.
    pub fn on_heard(&self, node: NodeInfo, now: Time) -> InsertOutcome {
        if node.id == self.own {
            return InsertOutcome::Ignored;
        }
        // A bucket with contacts learns nothing from a node heard of: the non-empty
        // mask says so without the bucket's lock, and in the deep group the run
        // lengths do under its read lock (a simulated table is all deep group, and
        // each answer names eight nodes).
        let Some(index) = self.bucket_index(&node.id) else {
            return InsertOutcome::Ignored;
        };
        let has_contacts = match self.scope(index).0 {
            DEEP_BUCKETS => self
                .deep
                .read()
                .as_deref()
                .is_some_and(|deep| deep.run_len(self.deep_offset(index)) > 0),
            g => self.nonempty.load(Ordering::Relaxed) & Self::group_bit(g) != 0,
        };
        if has_contacts {
            return InsertOutcome::Ignored;
        }
        let (p, now_s) = (self.params, secs(now));
        self.write(&node.id, true, |b, live, s| {
            b.on_heard(live, node, now_s, s, &p)
        })
        .unwrap_or(InsertOutcome::Ignored)
    }

    /// A query we sent to `id` got no answer by `now`.
    ///
    /// The contact's failure count goes up; after
    /// [`RoutingConfig::max_failures`] in a row, or at once if it was being pinged
    /// for ping-before-evict, it is bad and the best verified replacement candidate
    /// takes its place ([`TimeoutOutcome::Replaced`]). A replacement candidate that
    /// times out is dropped from the cache.
    ///
    /// Locks: the writer lock of `id`'s bucket.
    pub fn on_timeout(&self, id: &Id, now: Time) -> TimeoutOutcome {
        let (p, now_s) = (self.params, secs(now));
        self.write(id, false, |b, live, s| b.on_timeout(live, id, now_s, s, &p))
            .unwrap_or(TimeoutOutcome::Ignored)
    }

    /// Removes `id` from the table (or its replacement cache) and returns it; the
    /// best verified candidate takes a removed contact's place. `now` stamps the
    /// bucket as changed when that happens.
    ///
    /// Locks: the writer lock of `id`'s bucket.
    pub fn remove(&self, id: &Id, now: Time) -> Option<NodeInfo> {
        let now_s = secs(now);
        self.write(id, false, |b, live, s| b.remove(live, id, now_s, s))
            .flatten()
    }

    /// Looks `id` up among the contacts of its bucket.
    fn find<R>(&self, id: &Id, f: impl FnOnce(&KBucket, &Contact) -> R) -> Option<R> {
        let (group, scope) = self.scope(self.bucket_index(id)?);
        if group == DEEP_BUCKETS {
            // Only the bucket's run of the group.
            let guard = self.deep.read();
            let deep = guard.as_deref()?;
            let run = &deep.live[deep.run(self.deep_offset(scope.index))];
            return run.iter().find(|c| c.id == *id).map(|c| f(&deep.bucket, c));
        }
        self.inspect(group, |b, live| {
            contacts(live).find(|c| c.id == *id).map(|c| f(b, &c))
        })
        .flatten()
    }

    /// The contact with this id, if it is in the table.
    ///
    /// Locks: the lock of `id`'s bucket (mutex, or the deep group's read lock).
    pub fn get(&self, id: &Id) -> Option<Entry> {
        self.find(id, Self::entry)
    }

    /// The state of contact `id` at `now`, if it is in the table.
    ///
    /// Locks: as [`Self::get`].
    pub fn state(&self, id: &Id, now: Time) -> Option<NodeState> {
        let p = self.params;
        self.find(id, |_, c| p.state(c, secs(now)))
    }

    fn entry(b: &KBucket, c: &Contact) -> Entry {
        Entry {
            node: b.node(c),
            last_seen: c.last_seen_time(),
            failures: c.fails,
        }
    }

    /// Writes into `out` (cleared first) the `n` contacts closest to `target` by XOR
    /// distance, closest first, leaving out bad ones. Fewer when the table has fewer.
    ///
    /// Buckets hold disjoint distance ranges: with `D = own ^ target`, bucket `i`'s
    /// contacts are at distances starting with `D`'s first `i` bits followed by the
    /// complement of `D`'s bit `i`. So bucket `i` is nearer than every deeper bucket
    /// exactly when bit `i` of `D` is 1, and the buckets from nearest to farthest are
    /// those with a 1 bit in ascending order, then those with a 0 bit in descending
    /// order (the deep group sits between the two runs as one block). The walk takes
    /// whole buckets in that order, sorting each, and stops once it has `n`; for a
    /// random target and a full table that is one bucket. Allocation-free once `out`
    /// has grown to `n` plus one bucket.
    ///
    /// Locks: none for shallow buckets of IPv4 contacts (a seqlock read, retried if
    /// a writer intervened); the mutex of a bucket holding IPv6 contacts, and the
    /// deep group's read lock if the walk gets there; one at a time. Empty buckets
    /// are skipped without being touched.
    pub fn closest(&self, target: &Id, n: usize, out: &mut Vec<NodeInfo>) {
        out.clear();
        if n == 0 {
            return;
        }
        let d = self.own.distance(target);
        let d = d.as_bytes();
        let top = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
        let nonempty = self.nonempty.load(Ordering::Relaxed);
        let shallow = nonempty as u32;
        // Buckets whose bit of D is 1, nearest (lowest index, highest bit) first.
        let mut ones = top & shallow;
        while ones != 0 {
            let i = ones.leading_zeros() as usize;
            ones &= !(1 << (31 - i));
            if self.collect(i, target, n, out) {
                return;
            }
        }
        if nonempty & DEEP_BIT != 0 && self.collect(DEEP_BUCKETS, target, n, out) {
            return;
        }
        // Buckets whose bit of D is 0, nearest (highest index, lowest bit) first.
        let mut zeros = !top & shallow;
        while zeros != 0 {
            let i = 31 - zeros.trailing_zeros() as usize;
            zeros &= !(1 << (31 - i));
            if self.collect(i, target, n, out) {
                return;
            }
        }
    }

    /// Appends group `group`'s non-bad contacts to `out`, sorted by distance to
    /// `target`, keeping at most `n` in `out`; returns whether `out` is full.
    #[inline]
    fn collect(&self, group: usize, target: &Id, n: usize, out: &mut Vec<NodeInfo>) -> bool {
        let t = DistKey::of(target);
        if let Some(shard) = self.shallow.get(group).and_then(OnceLock::get) {
            if let Some(full) = self.collect_published(shard, group, &t, n, out) {
                return full;
            }
        }
        // The deep group, a bucket holding IPv6 contacts, or k above `FAST_K`: read
        // under the lock and sort in place.
        let start = out.len();
        let p = self.params;
        if group == DEEP_BUCKETS && (1..=DEEP_PICK).contains(&n.saturating_sub(start)) {
            if let Some(full) = self.collect_deep(target, &t, n, out) {
                return full;
            }
        }
        self.inspect(group, |b, live| {
            out.extend(contacts(live).filter(|c| !p.is_bad(c)).map(|c| b.node(&c)));
        });
        // A deep group holding every bucket (`sharded_buckets` 0) may hold many
        // more than wanted: select those, then sort only them.
        let want = n.saturating_sub(start);
        if want > 0 && out.len() - start > want {
            out[start..].select_nth_unstable_by_key(want - 1, |node| t.key(&node.id));
            out.truncate(start + want);
        }
        out[start..].sort_unstable_by_key(|node| t.key(&node.id));
        out.truncate(n);
        out.len() == n
    }

    /// The deep group's path of [`Self::collect`] when at most [`DEEP_PICK`] more are
    /// wanted: the group's buckets are read nearest first (the order of
    /// [`Self::closest`], from the run lengths), keeping the nearest few in a sorted
    /// stack array (by distance key and position), until they hold enough: the
    /// buckets not read are all farther. Only those few become [`NodeInfo`]s. A
    /// simulated table keeps every bucket in this group (forty-odd contacts at a
    /// million nodes), and every `find_node` it answers reads it: for a random
    /// target, one bucket of them. `None` if the group was never used.
    fn collect_deep(
        &self,
        target: &Id,
        t: &DistKey,
        n: usize,
        out: &mut Vec<NodeInfo>,
    ) -> Option<bool> {
        let want = n - out.len();
        let p = self.params;
        let guard = self.deep.read();
        let deep = guard.as_deref()?;
        let first = self.shallow.len();
        let d = self.own.distance(target);
        let bit = |index: usize| d.as_bytes()[index / 8] >> (7 - index % 8) & 1 == 1;
        let buckets = deep.lens.len();
        // Nearest first: buckets whose bit of D is 1 in ascending order, then those
        // whose bit is 0 in descending order.
        let ones = (0..buckets).filter(|&o| bit(first + o));
        let zeros = (0..buckets).rev().filter(|&o| !bit(first + o));
        let mut best = [((u128::MAX, u32::MAX), u32::MAX); DEEP_PICK];
        let mut m = 0;
        for offset in ones.chain(zeros) {
            let run = deep.run(offset);
            for (i, c) in deep.live[run.clone()].iter().enumerate() {
                if p.is_bad(c) {
                    continue;
                }
                let key = (t.key(&c.id), (run.start + i) as u32);
                if m == want && key >= best[want - 1] {
                    continue;
                }
                // Insert in order; the last one falls off when the array is full.
                let mut j = m.min(want - 1);
                while j > 0 && best[j - 1] > key {
                    best[j] = best[j - 1];
                    j -= 1;
                }
                best[j] = key;
                m = (m + 1).min(want);
            }
            if m == want {
                break;
            }
        }
        out.extend(
            best[..m]
                .iter()
                .map(|&(_, i)| deep.bucket.node(&deep.live[i as usize])),
        );
        Some(out.len() == n)
    }

    /// The fast path of [`Self::collect`]: a seqlock read of shallow bucket
    /// `group` into stack arrays, sorted by 64-bit keys. `None` (take the general
    /// path) when the bucket holds an IPv6 contact or more than [`FAST_K`] contacts,
    /// or when two keys tie.
    #[inline]
    fn collect_published(
        &self,
        shard: &Shard,
        group: usize,
        t: &DistKey,
        n: usize,
        out: &mut Vec<NodeInfo>,
    ) -> Option<bool> {
        let max_fails = self.params.max_fails;
        // Every contact of bucket `group` is at a distance whose first `group + 1`
        // bits are the same, so the key is the 60 distance bits after those, with
        // the contact's slot in the low 4 bits. Keys whose 60 bits tie (ids
        // sharing 60 bits past the prefix: adversarial) go the exact general path.
        let shift = group as u32 + 1;
        let mut keys = [u64::MAX; FAST_K];
        let mut words = [[0u64; 4]; FAST_K];
        let count = shard.read(|published, len| {
            if len > FAST_K {
                return None;
            }
            let mut m = 0;
            for i in 0..len {
                let w = shard::load_words(published, i);
                let (fails, flags) = contact::meta(&w);
                if flags & contact::V6 != 0 {
                    return None;
                }
                if fails < max_fails {
                    let (hi, _) = contact::id_key(&w);
                    let bits = (((hi ^ t.hi) << shift) >> 64) as u64;
                    keys[m] = (bits & !SLOT_MASK) | m as u64;
                    words[m] = w;
                    m += 1;
                }
            }
            Some(m)
        })?;
        if count <= 8 {
            // Unused keys are u64::MAX and sort last.
            let (first, _) = keys.split_at_mut(8);
            if let Ok(eight) = <&mut [u64; 8]>::try_from(first) {
                sort8(eight);
            }
        } else {
            keys[..count].sort_unstable();
        }
        if keys[..count]
            .windows(2)
            .any(|w| w[0] & !SLOT_MASK == w[1] & !SLOT_MASK)
        {
            return None;
        }
        let take = count.min(n - out.len());
        out.extend(
            keys[..take]
                .iter()
                .map(|&k| contact::node_from_words(&words[(k & SLOT_MASK) as usize])),
        );
        Some(out.len() == n)
    }

    /// [`Self::closest`] into a new vector.
    ///
    /// Locks: as [`Self::closest`].
    pub fn closest_vec(&self, target: &Id, n: usize) -> Vec<NodeInfo> {
        let mut out = Vec::with_capacity(n);
        self.closest(target, n, &mut out);
        out
    }

    /// Number of contacts (all states; replacement candidates excluded).
    ///
    /// Locks: the lock of each bucket in use, one at a time.
    pub fn len(&self) -> usize {
        (0..GROUPS)
            .filter_map(|g| self.inspect(g, |_, live| live.len()))
            .sum()
    }

    /// Whether the table has no contacts.
    ///
    /// Locks: none (reads an atomic summary).
    pub fn is_empty(&self) -> bool {
        self.nonempty.load(Ordering::Relaxed) == 0
    }

    /// Every contact, for saving the table or for stats: endpoint, last-seen time,
    /// failures (see [`Entry::state`]).
    ///
    /// Locks: the lock of each bucket in use, one at a time.
    pub fn contacts(&self) -> Vec<Entry> {
        let mut all = Vec::new();
        for g in 0..GROUPS {
            self.inspect(g, |b, live| {
                all.extend(contacts(live).map(|c| Self::entry(b, &c)));
            });
        }
        all
    }

    /// Contacts per bucket: element `i` is bucket `i`'s size; the vector ends at the
    /// deepest non-empty bucket (empty for an empty table).
    ///
    /// Locks: the lock of each bucket in use, one at a time.
    pub fn bucket_lens(&self) -> Vec<usize> {
        let mut lens = vec![0usize; BUCKETS];
        for g in 0..GROUPS {
            self.inspect(g, |_, live| {
                for c in contacts(live) {
                    if let Some(i) = self.bucket_index(&c.id) {
                        lens[i] += 1;
                    }
                }
            });
        }
        let used = lens.iter().rposition(|&l| l > 0).map_or(0, |i| i + 1);
        lens.truncate(used);
        lens
    }

    /// Number of non-empty buckets.
    ///
    /// Locks: as [`Self::bucket_lens`].
    pub fn bucket_count(&self) -> usize {
        self.bucket_lens().iter().filter(|&&l| l > 0).count()
    }

    /// Heap bytes the table holds beyond its own `size_of` (buckets and their
    /// caches, by capacity; allocator overhead not counted). For memory budgets of
    /// simulations that hold many tables.
    ///
    /// Locks: the lock of each bucket in use, one at a time.
    pub fn heap_bytes(&self) -> usize {
        let slots = self.shallow.len() * std::mem::size_of::<OnceLock<Box<Shard>>>();
        let shallow = slots
            + self
                .shallow
                .iter()
                .filter_map(OnceLock::get)
                .map(|shard| shard.heap_bytes())
                .sum::<usize>();
        let deep = self.deep.read().as_deref().map_or(0, |d| {
            std::mem::size_of::<Deep>()
                + d.live.capacity() * std::mem::size_of::<Contact>()
                + d.changed.capacity() * std::mem::size_of::<u32>()
                + d.lens.capacity() * std::mem::size_of::<u16>()
                + d.bucket.heap_bytes()
        });
        shallow + deep
    }

    /// Contacts that are questionable at `now`: ping them and report the results,
    /// so that they turn good again or bad. This includes contacts whose ping the
    /// table already asked for ([`InsertOutcome::Ping`]): it cannot know whether
    /// that ping was sent, and a second ping does no harm (its timeout finds the
    /// contact already replaced, or its answer just refreshes it again).
    ///
    /// Locks: the lock of each bucket in use, one at a time.
    pub fn questionable(&self, now: Time) -> Vec<NodeInfo> {
        let (p, now_s) = (self.params, secs(now));
        let mut found = Vec::new();
        for g in 0..GROUPS {
            self.inspect(g, |b, live| {
                found.extend(
                    contacts(live)
                        .filter(|c| p.state(c, now_s) == NodeState::Questionable)
                        .map(|c| b.node(&c)),
                );
            });
        }
        found
    }

    /// Buckets that have not changed for `idle` (BEP 5: [`REFRESH_INTERVAL`]) at
    /// `now` and should be refreshed by a lookup of a random id in them
    /// ([`Self::refresh_target`]). Considered are the buckets up to one past the
    /// deepest non-empty one (that one covers the ids nearest ours); none for an
    /// empty table, which needs a bootstrap instead. Each bucket has its own
    /// last-changed time, in the deep group too; a never-used bucket counts as
    /// changed at time zero.
    ///
    /// Locks: the lock of each bucket in use, one at a time.
    pub fn buckets_to_refresh(&self, now: Time, idle: Duration) -> Vec<usize> {
        // `bucket_lens` ends at the deepest non-empty bucket.
        let Some(deepest) = self.bucket_lens().len().checked_sub(1) else {
            return Vec::new();
        };
        let last = (deepest + 1).min(BUCKETS - 1);
        let idle_s = u32::try_from(idle.as_secs()).unwrap_or(u32::MAX);
        let now_s = secs(now);
        let first_deep = self.shallow.len();
        let deep_changed: Vec<u32> = if last >= first_deep {
            self.deep
                .read()
                .as_deref()
                .map_or_else(Vec::new, |d| d.changed.clone())
        } else {
            Vec::new()
        };
        (0..=last)
            .filter(|&i| {
                let t = if i < first_deep {
                    self.inspect(i, |b, _| b.last_changed()).unwrap_or(0)
                } else {
                    deep_changed.get(i - first_deep).copied().unwrap_or(0)
                };
                now_s.saturating_sub(t) >= idle_s
            })
            .collect()
    }

    /// A random id in bucket `index`: the target of that bucket's refresh lookup.
    pub fn refresh_target<R: Rng + ?Sized>(&self, index: usize, rng: &mut R) -> Id {
        self.own.random_in_bucket(index, rng)
    }

    /// Checks every internal invariant (tests only).
    #[cfg(test)]
    fn check_invariants(&self) {
        let mut mask = 0u64;
        for g in 0..GROUPS {
            self.inspect(g, |b, live| {
                b.check(
                    live,
                    |id| {
                        let (group, scope) = self.scope(self.own.common_prefix_len(id));
                        assert_eq!(group, g, "entry in the wrong group");
                        scope
                    },
                    &self.params,
                );
                if !live.is_empty() {
                    mask |= Self::group_bit(g);
                }
            });
        }
        assert_eq!(
            mask,
            self.nonempty.load(Ordering::Relaxed),
            "non-empty mask out of step"
        );
        if let Some(deep) = self.deep.read().as_deref() {
            let offsets: Vec<usize> = deep
                .live
                .iter()
                .map(|c| self.deep_offset(self.own.common_prefix_len(&c.id)))
                .collect();
            assert!(
                offsets.windows(2).all(|w| w[0] <= w[1]),
                "deep group out of bucket order"
            );
            assert!(
                offsets.iter().all(|&o| o < deep.lens.len()),
                "a contact past the run lengths"
            );
            for offset in 0..deep.lens.len() {
                let held = offsets.iter().filter(|&&o| o == offset).count();
                assert_eq!(deep.run_len(offset), held, "run length out of step");
            }
        }
    }
}

/// Largest bucket size [`RoutingTable::closest`] reads into stack arrays; larger
/// buckets (a non-default k) take the general path. At most 16: slots are numbered
/// in the 4 bits of [`SLOT_MASK`].
const FAST_K: usize = 16;

/// Most contacts [`RoutingTable::collect_deep`] picks in one pass (k = 8 is what
/// lookups and answers ask for); more go the general path.
const DEEP_PICK: usize = 16;

/// The low bits of a fast-path sort key that hold the contact's slot.
const SLOT_MASK: u64 = 0xf;

/// Sorts 8 keys with an optimal sorting network (19 compare-exchanges, depth 6;
/// Knuth, TAOCP vol. 3, 5.3.4), without branches: comparisons of random distances
/// are unpredictable, so a comparison sort would mispredict about every other one.
#[inline]
fn sort8(k: &mut [u64; 8]) {
    #[inline(always)]
    fn cx(k: &mut [u64; 8], i: usize, j: usize) {
        let (a, b) = (k[i], k[j]);
        k[i] = a.min(b);
        k[j] = a.max(b);
    }
    cx(k, 0, 2);
    cx(k, 1, 3);
    cx(k, 4, 6);
    cx(k, 5, 7);
    cx(k, 0, 4);
    cx(k, 1, 5);
    cx(k, 2, 6);
    cx(k, 3, 7);
    cx(k, 0, 1);
    cx(k, 2, 3);
    cx(k, 4, 5);
    cx(k, 6, 7);
    cx(k, 2, 4);
    cx(k, 3, 5);
    cx(k, 1, 4);
    cx(k, 3, 6);
    cx(k, 1, 2);
    cx(k, 3, 4);
    cx(k, 5, 6);
}

/// One bucket of the deep group as a [`Live`] store: the run `lo..hi` of the
/// group's vector, which is ordered by bucket (see [`Deep::live`]). A contact
/// added goes to the end of the run, one removed is replaced by the run's last, so
/// the vector stays ordered.
struct Run<'a> {
    vec: &'a mut Vec<Contact>,
    lo: usize,
    hi: usize,
}

impl Live for Run<'_> {
    fn len(&self) -> usize {
        self.hi - self.lo
    }
    fn get(&self, i: usize) -> Contact {
        self.vec[self.lo + i]
    }
    fn set(&mut self, i: usize, c: Contact) {
        self.vec[self.lo + i] = c;
    }
    fn push(&mut self, c: Contact) {
        bucket::reserve_compact(self.vec);
        self.vec.insert(self.hi, c);
        self.hi += 1;
    }
    fn swap_remove(&mut self, i: usize) -> Contact {
        let last = self.hi - 1;
        self.vec.swap(self.lo + i, last);
        self.hi = last;
        self.vec.remove(last)
    }
}

/// Compares XOR distances to one target quickly: the distance's first 16 bytes and
/// last 4 as big-endian integers, in that order, order exactly like the distance.
#[derive(Clone, Copy)]
struct DistKey {
    hi: u128,
    lo: u32,
}

impl DistKey {
    #[inline]
    fn of(id: &Id) -> DistKey {
        let b = id.as_bytes();
        let mut hi = [0u8; 16];
        hi.copy_from_slice(&b[..16]);
        DistKey {
            hi: u128::from_be_bytes(hi),
            lo: u32::from_be_bytes([b[16], b[17], b[18], b[19]]),
        }
    }

    /// The distance from `self` to `id` as a sortable key.
    #[inline]
    fn key(&self, id: &Id) -> (u128, u32) {
        let other = DistKey::of(id);
        (self.hi ^ other.hi, self.lo ^ other.lo)
    }
}

#[cfg(test)]
mod tests;
