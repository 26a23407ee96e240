//! A one-hop overlay in the simulator: every node knows every member, and a get or a
//! put goes straight to the r owners that a [`Partitioner`](crate::keyspace) names.
//!
//! Entry point: [`OneHopSwarm`], built from a [`OneHopConfig`]; [`OneHopSwarm::run`]
//! runs the same workload as the Kademlia [`Swarm`](super::Swarm) (M puts, then M
//! gets of what was put, from random nodes) under optional churn, and
//! [`OneHopSwarm::stats`] reports round trips per get, messages per get and per put,
//! success, membership traffic and memory per node.
//!
//! # The protocol modelled
//!
//! - **Membership.** Each node keeps the full member list. A join (the joiner asks a
//!   random member for its list, one round trip carrying N entries, then announces
//!   itself) and a departure (detected from missed answers [`OneHopConfig::detection`]
//!   after the crash, then announced by the detector) spread by broadcast: N - 1
//!   messages per event, each reaching its node after two link latencies (the depth
//!   of the broadcast tree, about log N hops, is modelled as two) unless lost.
//! - **Anti-entropy.** Every [`OneHopConfig::anti_entropy`] each node exchanges a
//!   digest (the count and a hash of the events it has seen) with a random member; the
//!   two then send each other the events the other lacks. This repairs what a lost
//!   broadcast missed.
//! - **Failure detection.** A query that gets no answer within
//!   [`OneHopConfig::timeout`] counts as a missed answer: the asker goes on to the
//!   next owner at once.
//! - **Data.** A put stores the item on the r owners of the asker's view, in
//!   parallel, in one round trip: an owner admits a write from any member in its
//!   list (membership, spread and repaired as above, is the admission control of a
//!   one-hop network), and from anyone else with a write token, which comes with
//!   every answer and is cached per peer for [`TOKEN_LIFETIME`]; an asker the owner
//!   does not know yet, without a cached token, fetches one first (two round trips). A get asks the owners in order, the primary first, until
//!   one has the item. When membership changes, the owners hand items over: a member
//!   that left has its items copied by a surviving holder to the new last owner, and a
//!   joiner is sent the items it now owns (one message per item, counted as
//!   maintenance, not as get or put messages).
//!
//! # How the simulator holds N² membership
//!
//! Full membership is N entries per node, N² in one process (10,000 nodes: 10⁸
//! entries). The simulator keeps what the members agree on once: one shared
//! partitioner over every member that any live node may still believe in (the live
//! members, plus departed ones whose departure has not reached every live node yet).
//! Each node keeps only its delta, the list of membership events it has not heard
//! yet (usually empty; a few entries while a broadcast is in flight or after a loss).
//! A node's view is the shared one less the joins it has not heard of and the
//! departures it has: its owners of a key are the shared partitioner's, filtered
//! through that delta. A departed member leaves the shared partitioner once every
//! live node has heard. [`OneHopStats::memory_per_node`] counts the node's own state
//! and an equal share of the shared structures; [`OneHopStats::membership_bytes_per_node`]
//! is what a real node holds instead (N entries of [`MEMBER_ENTRY_BYTES`]).
//!
//! Operations are resolved when they start, against the state of that moment (a get
//! takes a few hundred milliseconds of virtual time; membership changes during it are
//! not seen by it). Every random choice comes from [`OneHopConfig::seed`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::latency::Latency;
use super::metrics::quantile;
use super::queue::Queue;
use crate::error::Error;
use crate::id::Id;
use crate::keyspace::{Partitioner, Scheme};

/// How long a write token stays usable: tokens rotate every 5 minutes and the previous
/// one is still accepted (`PROTOCOL.md`), so a cached token is good for at least 5.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Bytes a real node spends per member of its list: a 20-byte id, a 6-byte compact
/// address, the last time it answered and a failure count, in a hash map slot (48),
/// and the member's signed join that its member pages carry (key, sequence number
/// and signature, 104 bytes, with its id and address in a second slot: 160).
pub const MEMBER_ENTRY_BYTES: usize = 48 + 160;

/// Bytes of one membership event on the wire (KRPC envelope, id, address, sequence).
const EVENT_BYTES: u64 = 90;

/// Bytes of an anti-entropy digest message.
const DIGEST_BYTES: u64 = 80;

/// How a [`OneHopSwarm`] is built and runs.
#[derive(Clone, Debug)]
pub struct OneHopConfig {
    /// Members at the start (default 2,000).
    pub nodes: usize,
    /// Seed of every random choice (default 0).
    pub seed: u64,
    /// Link latency model (default uniform 10–100 ms).
    pub latency: Latency,
    /// Probability that a datagram is lost (default 0).
    pub loss: f64,
    /// Owners of each key: the replicas a put writes (default 3).
    pub replicas: usize,
    /// The partitioner that names owners (default rendezvous).
    pub scheme: Scheme,
    /// Period of each node's digest exchange with a random member (default 30 s).
    pub anti_entropy: Duration,
    /// Time from a crash to its detection and announcement (default 5 s: a few
    /// missed answers to a neighbour's pings).
    pub detection: Duration,
    /// Time without an answer after which a query counts as lost (default 500 ms).
    pub timeout: Duration,
    /// Median session length of exponential churn, each departure replaced by a new
    /// member (default none: a static network).
    pub churn_median_session: Option<Duration>,
}

impl Default for OneHopConfig {
    fn default() -> Self {
        OneHopConfig {
            nodes: 2_000,
            seed: 0,
            latency: Latency::default(),
            loss: 0.0,
            replicas: 3,
            scheme: Scheme::Rendezvous,
            anti_entropy: Duration::from_secs(30),
            detection: Duration::from_secs(5),
            timeout: Duration::from_millis(500),
            churn_median_session: None,
        }
    }
}

impl OneHopConfig {
    /// Checks the configuration.
    ///
    /// Errors: [`Error::BadInput`] for no nodes, no replicas or more replicas than
    /// nodes, a loss outside 0..1, or a zero period.
    pub fn validate(&self) -> Result<(), Error> {
        if self.nodes == 0 || self.nodes > super::MAX_NODES {
            return Err(Error::BadInput(format!(
                "a one-hop swarm needs 1 to {} nodes, got {}",
                super::MAX_NODES,
                self.nodes
            )));
        }
        if self.replicas == 0 || self.replicas > self.nodes {
            return Err(Error::BadInput(format!(
                "replicas must be 1 to the number of nodes ({}), got {}",
                self.nodes, self.replicas
            )));
        }
        super::fraction("loss", self.loss)?;
        if self.anti_entropy.is_zero() || self.timeout.is_zero() {
            return Err(Error::BadInput(
                "anti_entropy and timeout must be positive".into(),
            ));
        }
        self.scheme.build()?;
        Ok(())
    }
}

/// What a one-hop run measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OneHopStats {
    /// Members at the end.
    pub live: usize,
    /// Members that ever existed.
    pub nodes: usize,
    /// Gets run.
    pub gets: u64,
    /// Gets that found the value.
    pub gets_ok: u64,
    /// Puts run.
    pub puts: u64,
    /// Puts stored on at least one owner.
    pub puts_ok: u64,
    /// Successful operations over all operations (1.0 when none ran).
    pub success_rate: f64,
    /// Fraction of gets answered in one round trip (the first owner asked had it).
    pub one_round_gets: f64,
    /// 99th percentile of round trips per get (a timeout counts as one).
    pub rounds_per_get_p99: f64,
    /// Mean queries sent per get.
    pub messages_per_get: f64,
    /// Mean queries sent per put (token fetches included).
    pub messages_per_put: f64,
    /// Fraction of puts done in one round trip (every owner admitted the asker as a
    /// member or by a cached token).
    pub one_round_puts: f64,
    /// Median virtual latency of a get, ms.
    pub get_latency_p50_ms: f64,
    /// 99th-percentile virtual latency of a get, ms.
    pub get_latency_p99_ms: f64,
    /// Membership events (joins and departures).
    pub membership_events: u64,
    /// Membership messages sent: broadcasts, join transfers, digests, repairs.
    pub membership_messages: u64,
    /// Membership bytes sent per live node per second of virtual time.
    pub membership_bytes_per_node_per_s: f64,
    /// Items copied to new owners after membership changes.
    pub handoff_messages: u64,
    /// Events that anti-entropy delivered before the broadcast did (lost, or still
    /// in flight when the digests were compared).
    pub repaired: u64,
    /// Age of the oldest membership event some live node has not heard yet, ms (0
    /// when every view is current): how stale the most out-of-date view is.
    pub oldest_unheard_ms: u64,
    /// Estimated simulator bytes per live node: its own state plus an equal share of
    /// the shared membership and store.
    pub memory_per_node: usize,
    /// What a real node would hold for its member list: N entries of
    /// [`MEMBER_ENTRY_BYTES`].
    pub membership_bytes_per_node: usize,
    /// Virtual time run, ms.
    pub virtual_ms: u64,
}

/// A membership event.
#[derive(Clone, Copy, Debug)]
struct MemberEvent {
    member: u32,
    join: bool,
    /// When it was announced, ms.
    at: u64,
    /// Live nodes that have not heard it yet.
    unheard: u32,
}

/// One member's own state (its delta from the shared view, its token cache).
#[derive(Debug, Default)]
struct Member {
    alive: bool,
    /// Events this node has not heard yet (sorted).
    pending: Vec<u32>,
    /// Write tokens: peer → when obtained (ms).
    tokens: HashMap<u32, u64>,
    /// Items held.
    items: u32,
}

/// What the event queue holds.
#[derive(Clone, Copy, Debug)]
enum Ev {
    /// Node `node` hears event `event`.
    Hear { node: u32, event: u32 },
    /// Node `node` runs its digest exchange.
    AntiEntropy { node: u32 },
    /// Node `node` crashes.
    Depart { node: u32 },
    /// The crash of `node` is detected by a live member and announced.
    Detect { node: u32 },
    /// A new node joins.
    Arrive,
    /// A put of workload item `item` from a random node.
    Put { item: u32 },
    /// A get of workload item `item` from a random node.
    Get { item: u32 },
}

/// A simulated one-hop network. See the [module docs](self).
pub struct OneHopSwarm {
    config: OneHopConfig,
    rng: SmallRng,
    now: u64,
    queue: Queue<Ev>,
    ids: Vec<Id>,
    index: HashMap<Id, u32>,
    members: Vec<Member>,
    live: Vec<u32>,
    /// Every member some live node may believe in (see the module docs).
    shared: Box<dyn Partitioner>,
    events: Vec<MemberEvent>,
    /// Member → its join event and (once detected) departure event.
    member_events: Vec<(Option<u32>, Option<u32>)>,
    /// Item key → holders.
    store: BTreeMap<Id, Vec<u32>>,
    keys: Vec<Id>,
    gets: Vec<(bool, u16, u32, u32)>,
    puts: Vec<(bool, u16, u32)>,
    membership_messages: u64,
    membership_bytes: u64,
    handoffs: u64,
    repaired: u64,
    started_ms: u64,
}

impl OneHopSwarm {
    /// A network of [`OneHopConfig::nodes`] members that all know each other.
    ///
    /// Errors: [`Error::BadInput`] from [`OneHopConfig::validate`].
    pub fn new(config: OneHopConfig) -> Result<OneHopSwarm, Error> {
        config.validate()?;
        let mut rng = SmallRng::seed_from_u64(config.seed);
        let mut ids = Vec::with_capacity(config.nodes);
        let mut index = HashMap::with_capacity(config.nodes);
        while ids.len() < config.nodes {
            let id = Id::random_with(&mut rng);
            if index.insert(id, ids.len() as u32).is_none() {
                ids.push(id);
            }
        }
        let mut shared = config.scheme.build()?;
        shared.add_all(&ids)?;
        let mut swarm = OneHopSwarm {
            members: (0..config.nodes)
                .map(|_| Member {
                    alive: true,
                    ..Member::default()
                })
                .collect(),
            live: (0..config.nodes as u32).collect(),
            member_events: vec![(None, None); config.nodes],
            ids,
            index,
            shared,
            rng,
            now: 0,
            queue: Queue::new(),
            events: Vec::new(),
            store: BTreeMap::new(),
            keys: Vec::new(),
            gets: Vec::new(),
            puts: Vec::new(),
            membership_messages: 0,
            membership_bytes: 0,
            handoffs: 0,
            repaired: 0,
            started_ms: 0,
            config,
        };
        let period = millis(swarm.config.anti_entropy);
        for node in 0..swarm.config.nodes as u32 {
            let first = swarm.rng.gen_range(0..period);
            swarm.queue.push(first, Ev::AntiEntropy { node });
            swarm.schedule_departure(node);
        }
        Ok(swarm)
    }

    /// Runs `ops` puts spread over `spread`, then `ops` gets of those items spread
    /// over the same time again, with churn running throughout if configured.
    pub fn run(&mut self, ops: usize, spread: Duration) {
        self.started_ms = self.now;
        let span = millis(spread).max(1);
        for item in 0..ops as u32 {
            let at = self.now + self.rng.gen_range(0..span);
            self.queue.push(at, Ev::Put { item });
        }
        self.keys = (0..ops as u64)
            .map(|i| {
                Id::sha1_concat(&[
                    b"one-hop item",
                    &self.config.seed.to_be_bytes(),
                    &i.to_be_bytes(),
                ])
            })
            .collect();
        self.advance_to(self.now + span);
        for item in 0..ops as u32 {
            let at = self.now + self.rng.gen_range(0..span);
            self.queue.push(at, Ev::Get { item });
        }
        self.advance_to(self.now + span);
    }

    /// Moves virtual time on by `d`: broadcasts, digests, churn.
    pub fn advance(&mut self, d: Duration) {
        self.advance_to(self.now + millis(d));
    }

    fn advance_to(&mut self, until: u64) {
        while let Some(at) = self.queue.peek_at() {
            if at > until {
                break;
            }
            let Some(entry) = self.queue.pop() else { break };
            self.now = entry.at;
            self.handle(entry.item);
        }
        self.now = until;
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Hear { node, event } => self.hear(node, event),
            Ev::AntiEntropy { node } => self.anti_entropy(node),
            Ev::Depart { node } => self.depart(node),
            Ev::Detect { node } => self.detect(node),
            Ev::Arrive => self.arrive(),
            Ev::Put { item } => self.put(item),
            Ev::Get { item } => self.get(item),
        }
    }

    fn random_live(&mut self) -> u32 {
        self.live[self.rng.gen_range(0..self.live.len())]
    }

    fn link_ms(&self, a: u32, b: u32) -> u64 {
        self.config.latency.link_ms(self.config.seed, a, b)
    }

    fn lost(&mut self) -> bool {
        self.config.loss > 0.0 && self.rng.gen_bool(self.config.loss)
    }

    fn schedule_departure(&mut self, node: u32) {
        let Some(median) = self.config.churn_median_session else {
            return;
        };
        // Exponential with the given median: mean = median / ln 2.
        let mean = median.as_secs_f64() * 1000.0 / std::f64::consts::LN_2;
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        let after = (-u.ln() * mean) as u64;
        self.queue
            .push(self.now + after.max(1), Ev::Depart { node });
    }

    /// Whether `node` believes `member` is a member.
    fn believes(&self, node: u32, member: u32) -> bool {
        let pending = &self.members[node as usize].pending;
        let (join, leave) = self.member_events[member as usize];
        let heard = |e: u32| pending.binary_search(&e).is_err();
        if join.is_some_and(|e| !heard(e)) {
            return false;
        }
        !leave.is_some_and(heard)
    }

    /// The owners of `key` in `node`'s view.
    fn owners(&self, node: u32, key: &Id) -> Vec<u32> {
        let r = self.config.replicas;
        let mut want = r;
        loop {
            let ask = want.min(self.shared.len());
            let Ok(owners) = self.shared.owners(key, ask) else {
                return Vec::new();
            };
            let mine: Vec<u32> = owners
                .iter()
                .filter_map(|id| self.index.get(id).copied())
                .filter(|m| self.believes(node, *m))
                .take(r)
                .collect();
            if mine.len() >= r || ask == self.shared.len() {
                return mine;
            }
            want += r;
        }
    }

    /// The true owners of `key`: the live members, as every node will agree once
    /// the events in flight have spread.
    fn true_owners(&self, key: &Id) -> Vec<u32> {
        let r = self.config.replicas;
        let mut want = r;
        loop {
            let ask = want.min(self.shared.len());
            let Ok(owners) = self.shared.owners(key, ask) else {
                return Vec::new();
            };
            let live: Vec<u32> = owners
                .iter()
                .filter_map(|id| self.index.get(id).copied())
                .filter(|m| self.members[*m as usize].alive)
                .take(r)
                .collect();
            if live.len() >= r || ask == self.shared.len() {
                return live;
            }
            want += r;
        }
    }

    /// A new membership event from `origin`, broadcast to every live node.
    fn announce(&mut self, origin: u32, member: u32, join: bool) {
        let event = self.events.len() as u32;
        let mut unheard = 0;
        for i in 0..self.live.len() {
            let node = self.live[i];
            if node == origin || node == member {
                continue;
            }
            unheard += 1;
            self.members[node as usize].pending.push(event);
            if self.lost() {
                continue; // anti-entropy will repair it
            }
            let at = self.now + 2 * self.link_ms(origin, node);
            self.queue.push(at, Ev::Hear { node, event });
        }
        let sent = self.live.len().saturating_sub(1) as u64;
        self.membership_messages += sent;
        self.membership_bytes += sent * EVENT_BYTES;
        self.events.push(MemberEvent {
            member,
            join,
            at: self.now,
            unheard,
        });
        let slot = &mut self.member_events[member as usize];
        if join {
            slot.0 = Some(event);
        } else {
            slot.1 = Some(event);
        }
        self.forget_if_spread(event);
    }

    fn hear(&mut self, node: u32, event: u32) {
        let member = &mut self.members[node as usize];
        if !member.alive {
            return;
        }
        if let Ok(at) = member.pending.binary_search(&event) {
            member.pending.remove(at);
            self.events[event as usize].unheard -= 1;
            self.forget_if_spread(event);
        }
    }

    /// Once every live node has heard a departure, the member leaves the shared view.
    fn forget_if_spread(&mut self, event: u32) {
        let e = self.events[event as usize];
        if e.unheard == 0 && !e.join {
            let id = self.ids[e.member as usize];
            if self.shared.remove(&id).is_ok() {
                self.member_events[e.member as usize] = (None, None);
            }
        }
    }

    fn anti_entropy(&mut self, node: u32) {
        if !self.members[node as usize].alive {
            return;
        }
        let period = millis(self.config.anti_entropy);
        self.queue.push(self.now + period, Ev::AntiEntropy { node });
        if self.live.len() < 2 {
            return;
        }
        let mut peer = self.random_live();
        while peer == node {
            peer = self.random_live();
        }
        self.membership_messages += 2;
        self.membership_bytes += 2 * DIGEST_BYTES;
        if self.lost() || self.lost() {
            return;
        }
        self.token_from(node, peer);
        // Each side learns the events the other has heard and it has not.
        let mine = self.members[node as usize].pending.clone();
        let theirs = self.members[peer as usize].pending.clone();
        for (to, lacks, other) in [(node, &mine, &theirs), (peer, &theirs, &mine)] {
            for &event in lacks.iter() {
                if other.binary_search(&event).is_err() {
                    self.repaired += 1;
                    self.membership_messages += 1;
                    self.membership_bytes += EVENT_BYTES;
                    self.hear(to, event);
                }
            }
        }
    }

    fn depart(&mut self, node: u32) {
        let member = &mut self.members[node as usize];
        if !member.alive {
            return;
        }
        member.alive = false;
        member.tokens = HashMap::new();
        let pending = std::mem::take(&mut member.pending);
        self.live.retain(|n| *n != node);
        for event in pending {
            self.events[event as usize].unheard -= 1;
            self.forget_if_spread(event);
        }
        let detected = self.now + millis(self.config.detection);
        self.queue.push(detected, Ev::Detect { node });
        self.queue.push(self.now + 1, Ev::Arrive);
    }

    fn detect(&mut self, node: u32) {
        if self.live.is_empty() {
            return;
        }
        let detector = self.random_live();
        self.announce(detector, node, false);
        self.hand_off_from(node);
    }

    /// The items `gone` held move to a new last owner, copied by a surviving holder.
    fn hand_off_from(&mut self, gone: u32) {
        let keys: Vec<Id> = self
            .store
            .iter()
            .filter(|(_, holders)| holders.contains(&gone))
            .map(|(k, _)| *k)
            .collect();
        self.members[gone as usize].items = 0;
        for key in keys {
            let owners = self.true_owners(&key);
            let Some(holders) = self.store.get_mut(&key) else {
                continue;
            };
            holders.retain(|h| *h != gone);
            if holders.is_empty() {
                continue; // every replica gone: lost
            }
            for owner in owners {
                if !holders.contains(&owner) {
                    holders.push(owner);
                    self.members[owner as usize].items += 1;
                    self.handoffs += 1;
                }
            }
        }
    }

    fn arrive(&mut self) {
        let mut id = Id::random_with(&mut self.rng);
        while self.index.contains_key(&id) {
            id = Id::random_with(&mut self.rng);
        }
        let node = self.ids.len() as u32;
        self.ids.push(id);
        self.index.insert(id, node);
        self.member_events.push((None, None));
        // The joiner copies a live member's list (one round trip, N entries) and
        // what that member has not heard yet.
        let contact = self.random_live();
        let pending = self.members[contact as usize].pending.clone();
        for &event in &pending {
            self.events[event as usize].unheard += 1;
        }
        self.members.push(Member {
            alive: true,
            pending,
            ..Member::default()
        });
        self.membership_messages += 2;
        self.membership_bytes += (self.live.len() * 26) as u64 + DIGEST_BYTES;
        if self.shared.add(id).is_err() {
            return;
        }
        self.announce(node, node, true);
        self.live.push(node);
        self.hand_off_to(node);
        let period = millis(self.config.anti_entropy);
        let first = self.now + self.rng.gen_range(1..=period);
        self.queue.push(first, Ev::AntiEntropy { node });
        self.schedule_departure(node);
    }

    /// A joiner is sent the items it now owns.
    fn hand_off_to(&mut self, node: u32) {
        let keys: Vec<Id> = self.store.keys().copied().collect();
        for key in keys {
            if !self.true_owners(&key).contains(&node) {
                continue;
            }
            if let Some(holders) = self.store.get_mut(&key) {
                if !holders.is_empty() && !holders.contains(&node) {
                    holders.push(node);
                    self.members[node as usize].items += 1;
                    self.handoffs += 1;
                }
            }
        }
    }

    fn token_from(&mut self, node: u32, peer: u32) {
        let now = self.now;
        self.members[node as usize].tokens.insert(peer, now);
    }

    fn has_token(&self, node: u32, peer: u32) -> bool {
        let lifetime = millis(TOKEN_LIFETIME);
        self.members[node as usize]
            .tokens
            .get(&peer)
            .is_some_and(|at| self.now.saturating_sub(*at) < lifetime)
    }

    /// A round trip from `node` to `peer`: its time in ms, or `None` when lost or
    /// the peer is down (the asker waits for the timeout).
    fn round_trip(&mut self, node: u32, peer: u32) -> Option<u64> {
        if !self.members[peer as usize].alive || self.lost() || self.lost() {
            return None;
        }
        Some(2 * self.link_ms(node, peer))
    }

    fn put(&mut self, item: u32) {
        if self.live.is_empty() {
            return;
        }
        let node = self.random_live();
        let key = self.keys[item as usize];
        let owners = self.owners(node, &key);
        let (mut messages, mut rounds, mut holders) = (0u32, 1u16, Vec::new());
        for owner in owners {
            if owner == node {
                holders.push(owner);
                continue;
            }
            // A member's write is admitted by membership: an owner that has the
            // asker in its list takes the put without a token. A writer the owner
            // does not know yet (a joiner whose announcement has not reached it)
            // needs a token: cached from an earlier answer, else fetched first.
            let admitted = self.believes(owner, node) || self.has_token(node, owner);
            if !admitted {
                messages += 1;
                rounds = 2;
                if self.round_trip(node, owner).is_none() {
                    continue;
                }
                self.token_from(node, owner);
            }
            messages += 1;
            if self.round_trip(node, owner).is_some() {
                holders.push(owner);
            }
        }
        for &h in &holders {
            self.members[h as usize].items += 1;
        }
        let ok = !holders.is_empty();
        self.store.insert(key, holders);
        self.puts.push((ok, rounds, messages));
    }

    fn get(&mut self, item: u32) {
        if self.live.is_empty() {
            return;
        }
        let node = self.random_live();
        let key = self.keys[item as usize];
        let owners = self.owners(node, &key);
        let timeout = millis(self.config.timeout);
        let (mut rounds, mut messages, mut latency, mut found) = (0u16, 0u32, 0u64, false);
        for owner in owners {
            let holds = self.store.get(&key).is_some_and(|h| h.contains(&owner));
            if owner == node && holds {
                found = true;
                break;
            }
            rounds += 1;
            messages += 1;
            match self.round_trip(node, owner) {
                None => latency += timeout,
                Some(rtt) => {
                    latency += rtt;
                    self.token_from(node, owner);
                    if holds {
                        found = true;
                        break;
                    }
                }
            }
        }
        self.gets
            .push((found, rounds.max(1), messages, latency as u32));
    }

    /// What the run measured.
    pub fn stats(&self) -> OneHopStats {
        let gets_ok = self.gets.iter().filter(|g| g.0).count() as u64;
        let puts_ok = self.puts.iter().filter(|p| p.0).count() as u64;
        let (gets, puts) = (self.gets.len() as u64, self.puts.len() as u64);
        let ops = gets + puts;
        let mean = |sum: u64, n: u64| if n == 0 { 0.0 } else { sum as f64 / n as f64 };
        let rounds: Vec<u16> = self.gets.iter().map(|g| g.1).collect();
        let latency: Vec<u32> = self.gets.iter().map(|g| g.3).collect();
        let virtual_ms = self.now - self.started_ms;
        let live = self.live.len();
        OneHopStats {
            live,
            nodes: self.ids.len(),
            gets,
            gets_ok,
            puts,
            puts_ok,
            success_rate: if ops == 0 {
                1.0
            } else {
                (gets_ok + puts_ok) as f64 / ops as f64
            },
            one_round_gets: mean(
                self.gets.iter().filter(|g| g.0 && g.1 == 1).count() as u64,
                gets,
            ),
            rounds_per_get_p99: quantile(&rounds, 0.99),
            messages_per_get: mean(self.gets.iter().map(|g| u64::from(g.2)).sum(), gets),
            messages_per_put: mean(self.puts.iter().map(|p| u64::from(p.2)).sum(), puts),
            one_round_puts: mean(self.puts.iter().filter(|p| p.1 == 1).count() as u64, puts),
            get_latency_p50_ms: quantile(&latency, 0.5),
            get_latency_p99_ms: quantile(&latency, 0.99),
            membership_events: self.events.len() as u64,
            membership_messages: self.membership_messages,
            membership_bytes_per_node_per_s: if virtual_ms == 0 || live == 0 {
                0.0
            } else {
                self.membership_bytes as f64 / live as f64 / (virtual_ms as f64 / 1000.0)
            },
            handoff_messages: self.handoffs,
            repaired: self.repaired,
            oldest_unheard_ms: self.oldest_unheard_ms(),
            memory_per_node: self.memory_per_node(),
            membership_bytes_per_node: self.shared.len() * MEMBER_ENTRY_BYTES,
            virtual_ms,
        }
    }

    /// See [`OneHopStats::oldest_unheard_ms`].
    fn oldest_unheard_ms(&self) -> u64 {
        self.live
            .iter()
            .flat_map(|&n| self.members[n as usize].pending.iter())
            .map(|&e| self.now.saturating_sub(self.events[e as usize].at))
            .max()
            .unwrap_or(0)
    }

    /// Estimated simulator bytes per live node: each live member's own state (its
    /// pending events and token cache) plus an equal share of the shared structures
    /// (the partitioner over all members, the id index, the event log, the store).
    pub fn memory_per_node(&self) -> usize {
        use std::mem::size_of;
        let live = self.live.len().max(1);
        let own: usize = self
            .live
            .iter()
            .map(|&n| {
                let m = &self.members[n as usize];
                size_of::<Member>()
                    + m.pending.capacity() * 4
                    + m.tokens.capacity() * (size_of::<(u32, u64)>() + 1)
            })
            .sum();
        // Partitioner: an id per member, plus a ring's virtual points.
        let points = match self.config.scheme {
            Scheme::Ring { vnodes } => vnodes * 24,
            _ => 0,
        };
        let shared = self.shared.len() * (size_of::<Id>() + points)
            + self.ids.capacity() * size_of::<Id>()
            + self.index.capacity() * (size_of::<(Id, u32)>() + 1)
            + self.events.capacity() * size_of::<MemberEvent>()
            + self.member_events.capacity() * size_of::<(Option<u32>, Option<u32>)>()
            + self
                .store
                .values()
                .map(|h| 20 + 64 + h.capacity() * 4)
                .sum::<usize>();
        (own + shared) / live
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(churn: Option<Duration>) -> OneHopSwarm {
        let config = OneHopConfig {
            nodes: 300,
            seed: 3,
            churn_median_session: churn,
            ..OneHopConfig::default()
        };
        OneHopSwarm::new(config).expect("valid")
    }

    #[test]
    fn a_static_network_answers_every_get_in_one_round_trip() {
        let mut swarm = small(None);
        swarm.run(500, Duration::from_secs(60));
        let s = swarm.stats();
        assert_eq!((s.puts, s.gets), (500, 500));
        assert_eq!(s.success_rate, 1.0);
        assert_eq!(s.one_round_gets, 1.0);
        assert!(s.messages_per_get <= 1.0, "{s:?}");
        assert!(s.messages_per_put <= 6.0);
        assert_eq!(s.membership_events, 0);
    }

    #[test]
    fn churn_is_repaired_and_views_converge() {
        let mut swarm = small(Some(Duration::from_secs(600)));
        swarm.config.loss = 0.02;
        swarm.run(500, Duration::from_secs(120));
        swarm.advance(Duration::from_secs(120));
        let s = swarm.stats();
        assert!(s.membership_events > 20, "{s:?}");
        assert!(s.success_rate > 0.99, "{s:?}");
        assert!(
            s.repaired > 0,
            "anti-entropy repaired lost broadcasts: {s:?}"
        );
        // Anti-entropy repairs what the broadcasts missed: no live node still lacks
        // an event announced more than three digest periods ago.
        let oldest = s.oldest_unheard_ms;
        assert!(oldest < 3 * 30_000, "an event unheard for {oldest} ms");
    }

    #[test]
    fn bad_configurations_are_refused() {
        let too_many = OneHopConfig {
            nodes: 3,
            replicas: 4,
            ..OneHopConfig::default()
        };
        assert!(matches!(
            OneHopSwarm::new(too_many),
            Err(Error::BadInput(_))
        ));
        let none = OneHopConfig {
            nodes: 0,
            ..OneHopConfig::default()
        };
        assert!(OneHopSwarm::new(none).is_err());
    }
}
