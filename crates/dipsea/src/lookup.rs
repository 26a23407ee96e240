//! The iterative Kademlia lookup as a state machine, with no I/O and no clock.
//!
//! Entry point: [`Lookup`]. The node seeds it with the closest contacts it knows, asks
//! it which node to query next ([`Lookup::next_query`]), and feeds back what each
//! queried node said ([`Lookup::on_response`]) or that it did not answer
//! ([`Lookup::on_failure`]). The lookup keeps its candidates sorted by XOR distance to
//! the target and is finished when the k closest candidates it knows have all answered
//! (so no closer node is left to ask), when it runs out of candidates or queries, or
//! when the caller stops it early (a BEP 44 `get` that found its value).
//!
//! Slow nodes do not hold it back: a query older than the *stall* interval no longer
//! counts against the alpha queries in flight, so the lookup asks the next candidate,
//! and an answer that comes after that still counts.

use std::time::Duration;

use crate::id::{Distance, Id, NodeInfo};
use crate::time::Time;

/// Parallelism of a lookup: queries in flight at once (Kademlia paper, section 2.3).
pub const ALPHA: usize = 3;

/// Bounds and tuning of one lookup. Every field is a bound; the defaults fit the
/// Mainline DHT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupConfig {
    /// How many closest nodes must answer before the lookup is done (BEP 5's k).
    /// Default [`crate::routing::K`] (8), 1 to 1024.
    pub k: usize,
    /// Queries in flight at once (not counting stalled ones). Default [`ALPHA`] (3),
    /// 1 to 1024.
    pub alpha: usize,
    /// After this long without an answer a query is *stalled*: it stops counting
    /// against `alpha` but its answer is still taken if it comes. Default 400 ms.
    pub stall_after: Duration,
    /// Most candidates kept; farther ones are dropped. Bounds memory per lookup.
    /// Default 64.
    pub max_candidates: usize,
    /// Most queries one lookup sends. Bounds fan-out on hostile or huge networks.
    /// Default 128.
    pub max_queries: usize,
}

impl Default for LookupConfig {
    fn default() -> Self {
        LookupConfig {
            k: crate::routing::K,
            alpha: ALPHA,
            stall_after: Duration::from_millis(400),
            max_candidates: 64,
            max_queries: 128,
        }
    }
}

/// Where a candidate stands in the lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Known, not asked yet.
    Fresh,
    /// Asked at this time; no answer yet.
    Asked(Time),
    /// Answered.
    Answered,
    /// Timed out or answered with an error.
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    node: NodeInfo,
    distance: Distance,
    state: State,
    /// Lookup round in which this node was learned: seeds are round 0, a node
    /// returned by a round-r node is round r + 1.
    round: u16,
    /// The write token it gave us, if any (for `announce_peer` and `put`).
    token: Option<Box<[u8]>>,
}

/// Counters of one lookup, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Queries sent.
    pub queries: u32,
    /// Answers received.
    pub responses: u32,
    /// Queries that failed (timeout or error).
    pub failures: u32,
    /// Sequential rounds: the largest round among nodes that answered, plus one.
    pub rounds: u16,
}

/// One iterative lookup of `target`.
#[derive(Clone, Debug)]
pub struct Lookup {
    target: Id,
    own_id: Id,
    config: LookupConfig,
    /// Sorted by distance to `target`, no duplicate ids.
    candidates: Vec<Candidate>,
    stats: LookupStats,
    stopped: bool,
    /// A dual-stack lookup (BEP 32): a node's IPv4 and IPv6 endpoints are separate
    /// candidates, and each family has its own k closest (the lookup ends when both
    /// have answered; a put or announce stores on both).
    per_family: bool,
    /// A lookup of a fixed set of nodes (the one-hop overlay's owners): the nodes
    /// answers name are not added, and the own id may be among the set.
    fixed: bool,
}

/// The k-window of a lookup: admits the first k candidates it is shown, k of each
/// address family in a dual-stack lookup (else k in all).
struct Window {
    k: usize,
    per_family: bool,
    seen: [usize; 2],
}

impl Window {
    /// Whether `c` is inside the window; `None` once the window is full (the
    /// iteration may stop there, as `take(k)` would).
    fn step(&mut self, c: &Candidate) -> Option<bool> {
        let families = if self.per_family { 2 } else { 1 };
        if self.seen[..families].iter().all(|&n| n >= self.k) {
            return None;
        }
        let family = usize::from(self.per_family && c.node.addr.is_ipv6());
        let inside = self.seen[family] < self.k;
        self.seen[family] += usize::from(inside);
        Some(inside)
    }

    /// The items of `iter` inside the window, in order.
    fn first<C: std::borrow::Borrow<Candidate>>(
        mut self,
        iter: impl Iterator<Item = C>,
    ) -> impl Iterator<Item = C> {
        iter.map_while(move |c| self.step(c.borrow()).map(|inside| inside.then_some(c)))
            .flatten()
    }
}

impl Lookup {
    /// A lookup of `target` started from `seeds` (usually the routing table's closest
    /// contacts). `own_id` is never queried: deployed nodes return the asker in
    /// `nodes`.
    pub fn new(
        target: Id,
        own_id: Id,
        seeds: impl IntoIterator<Item = NodeInfo>,
        config: LookupConfig,
    ) -> Lookup {
        Lookup::with_families(target, own_id, seeds, config, false)
    }

    /// Like [`Lookup::new`]; with `per_family`, a dual-stack lookup (BEP 32): the k
    /// closest of each address family must answer, and a node's IPv4 and IPv6
    /// endpoints are both candidates. The candidate bound doubles.
    pub fn with_families(
        target: Id,
        own_id: Id,
        seeds: impl IntoIterator<Item = NodeInfo>,
        mut config: LookupConfig,
        per_family: bool,
    ) -> Lookup {
        if per_family {
            config.max_candidates = config.max_candidates.saturating_mul(2);
        }
        let mut lookup = Lookup {
            target,
            own_id,
            // Room for what a lookup usually gathers, so the list is not regrown
            // (and copied) several times while answers come in.
            candidates: Vec::with_capacity(config.max_candidates.min(4 * config.k)),
            config,
            stats: LookupStats::default(),
            stopped: false,
            per_family,
            fixed: false,
        };
        lookup.add(seeds, 0);
        lookup
    }

    /// A lookup that asks exactly `nodes` (the owners of `target` in the one-hop
    /// overlay, the own node possibly among them) and learns no other node from
    /// their answers: with `config.alpha` and `config.k` at least their number, all
    /// are asked at once and it ends when each has answered or failed.
    pub fn fixed(
        target: Id,
        nodes: impl IntoIterator<Item = NodeInfo>,
        config: LookupConfig,
    ) -> Lookup {
        let mut lookup = Lookup {
            target,
            own_id: target,
            candidates: Vec::with_capacity(config.max_candidates.min(16)),
            config,
            stats: LookupStats::default(),
            stopped: false,
            per_family: false,
            fixed: true,
        };
        lookup.add(nodes, 0);
        lookup
    }

    /// Marks `node` as having answered with `token` without asking it: a one-hop
    /// put whose owners' tokens are cached goes straight to its store phase.
    pub fn answered_with(&mut self, node: &NodeInfo, token: &[u8]) {
        if let Some(c) = self.find(node) {
            if c.state == State::Fresh {
                c.state = State::Answered;
                c.token = Some(Box::from(token));
            }
        }
    }

    /// The id being looked up.
    pub fn target(&self) -> Id {
        self.target
    }

    /// A fresh k-window (see [`Window`]), `extra` wider in each family.
    fn window(&self, extra: usize) -> Window {
        Window {
            k: self.config.k + extra,
            per_family: self.per_family,
            seen: [0; 2],
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> LookupStats {
        self.stats
    }

    /// Adds nodes learned in `round`, keeping the list sorted and bounded.
    fn add(&mut self, nodes: impl IntoIterator<Item = NodeInfo>, round: u16) {
        for node in nodes {
            if node.id == self.own_id && !self.fixed {
                continue;
            }
            let distance = node.id.distance(&self.target);
            let pos = match self
                .candidates
                .binary_search_by(|c| c.distance.cmp(&distance))
            {
                // Already known; in a dual-stack lookup, only if in the same family
                // (a node's other endpoint goes beside it).
                Ok(pos) if self.per_family => {
                    let same = |c: &Candidate| c.distance == distance;
                    let start = self.candidates[..pos]
                        .iter()
                        .rposition(|c| !same(c))
                        .map_or(0, |p| p + 1);
                    let twins = self.candidates[start..].iter().take_while(|c| same(c));
                    let family = node.addr.is_ipv6();
                    if twins.clone().any(|c| c.node.addr.is_ipv6() == family) {
                        continue;
                    }
                    start + twins.count()
                }
                Ok(_) => continue,
                Err(pos) => pos,
            };
            if pos >= self.config.max_candidates {
                continue;
            }
            // A different id at an address we already track is a node that changed
            // its id or a liar; keep the first one.
            if self.candidates.iter().any(|c| c.node.addr == node.addr) {
                continue;
            }
            if self.candidates.len() >= self.config.max_candidates {
                // The farthest goes before the newcomer comes, so that the vector
                // never grows past the bound (inserting first doubled its capacity:
                // 14 KB a lookup, a simulator's 10,000 lookups in flight 140 MB).
                self.candidates.pop();
            }
            self.candidates.insert(
                pos,
                Candidate {
                    node,
                    distance,
                    state: State::Fresh,
                    round,
                    token: None,
                },
            );
        }
    }

    /// The next node to query now, if the lookup wants one more query in flight;
    /// the caller must send it a query and later report the outcome. Call again
    /// until it returns `None`.
    pub fn next_query(&mut self, now: Time) -> Option<NodeInfo> {
        if self.stopped || self.stats.queries as usize >= self.config.max_queries {
            return None;
        }
        let mut active = 0;
        let mut stalled = 0;
        for c in &self.candidates {
            if let State::Asked(at) = c.state {
                if now.since(at) < self.config.stall_after {
                    active += 1;
                } else {
                    stalled += 1;
                }
            }
        }
        if active >= self.config.alpha {
            return None;
        }
        // Only the k closest live candidates are worth asking, widened by one for
        // each stalled query so a slow node does not hold the lookup back.
        let window = self.window(stalled);
        let live = self
            .candidates
            .iter_mut()
            .filter(|c| c.state != State::Failed);
        let candidate = window.first(live).find(|c| c.state == State::Fresh)?;
        candidate.state = State::Asked(now);
        self.stats.queries += 1;
        Some(candidate.node)
    }

    /// The next time after `now` at which a query in flight stalls, letting
    /// [`Lookup::next_query`] send another: the driver should call `next_query` again
    /// then. Queries stalled already are left out: their moment has passed, and
    /// reporting it would have the driver wake up again and again at once until
    /// their answer or timeout comes.
    pub fn next_stall(&self, now: Time) -> Option<Time> {
        self.candidates
            .iter()
            .filter_map(|c| match c.state {
                State::Asked(at) => Some(at + self.config.stall_after),
                _ => None,
            })
            .filter(|&stall| stall > now)
            .min()
    }

    fn find(&mut self, queried: &NodeInfo) -> Option<&mut Candidate> {
        self.candidates
            .iter_mut()
            .find(|c| c.node.id == queried.id && c.node.addr == queried.addr)
    }

    /// `queried` answered: `nodes` are the contacts it returned (closer nodes),
    /// `token` its write token if it gave one. Answers to queries this lookup did
    /// not send are ignored.
    pub fn on_response(
        &mut self,
        queried: &NodeInfo,
        nodes: impl IntoIterator<Item = NodeInfo>,
        token: Option<&[u8]>,
    ) {
        let Some(c) = self.find(queried) else { return };
        if !matches!(c.state, State::Asked(_)) {
            return;
        }
        c.state = State::Answered;
        c.token = token.map(Box::from);
        let round = c.round;
        self.stats.responses += 1;
        self.stats.rounds = self.stats.rounds.max(round + 1);
        if !self.fixed {
            self.add(nodes, round.saturating_add(1));
        }
    }

    /// Takes back a query [`Lookup::next_query`] handed out that the caller could not
    /// send (e.g. its in-flight table was full): the node becomes a fresh candidate
    /// again and the query does not count against the budget.
    pub fn unask(&mut self, queried: &NodeInfo) {
        if let Some(c) = self.find(queried) {
            if matches!(c.state, State::Asked(_)) {
                c.state = State::Fresh;
                self.stats.queries = self.stats.queries.saturating_sub(1);
            }
        }
    }

    /// `queried` did not answer in time, or answered with an error.
    pub fn on_failure(&mut self, queried: &NodeInfo) {
        if let Some(c) = self.find(queried) {
            if matches!(c.state, State::Asked(_)) {
                c.state = State::Failed;
                self.stats.failures += 1;
            }
        }
    }

    /// Whether a candidate not asked yet is closer to the target than `distance`:
    /// what a lookup that may stop early (a mutable `get` whose answers agree) asks
    /// before it stops.
    pub fn unasked_closer_than(&self, distance: &Distance) -> bool {
        self.candidates
            .iter()
            .take_while(|c| c.distance < *distance)
            .any(|c| c.state == State::Fresh)
    }

    /// Ends the lookup now (e.g. a `get` found its value). Answers still in flight
    /// are ignored afterwards.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Whether the lookup is over: stopped, or the k closest live candidates have all
    /// answered, or nothing is left to ask and nothing is in flight.
    pub fn is_finished(&self) -> bool {
        if self.stopped {
            return true;
        }
        let live = self.candidates.iter().filter(|c| c.state != State::Failed);
        let mut live = self.window(0).first(live).peekable();
        if live.peek().is_some() && live.all(|c| c.state == State::Answered) {
            return true;
        }
        let in_flight = self
            .candidates
            .iter()
            .any(|c| matches!(c.state, State::Asked(_)));
        let budget_left = (self.stats.queries as usize) < self.config.max_queries;
        let fresh = self.candidates.iter().any(|c| c.state == State::Fresh);
        !in_flight && (!fresh || !budget_left)
    }

    /// The closest nodes that answered, nearest first, at most k (of each family in
    /// a dual-stack lookup), with their tokens.
    pub fn closest_answered(&self) -> impl Iterator<Item = (NodeInfo, Option<&[u8]>)> + '_ {
        let answered = self
            .candidates
            .iter()
            .filter(|c| c.state == State::Answered);
        self.window(0)
            .first(answered)
            .map(|c| (c.node, c.token.as_deref()))
    }

    /// The closest nodes that answered with a write token, nearest first, at most
    /// k, with their tokens, which are moved out of the lookup: the store phase of
    /// a put or announce sends each its own token back.
    pub fn take_tokens(&mut self) -> Vec<(NodeInfo, Box<[u8]>)> {
        let mut tokens = Vec::with_capacity(self.config.k);
        let window = self.window(0);
        let answered = self
            .candidates
            .iter_mut()
            .filter(|c| c.state == State::Answered);
        let answered = window.first(answered);
        tokens.extend(answered.filter_map(|c| Some((c.node, c.token.take()?))));
        tokens
    }

    /// How many nodes the network holds, judged from this lookup: with N ids spread
    /// uniformly, the distance to the k-th closest of them, as a fraction d of the
    /// keyspace, follows a Gamma(k, N) law, and (k − 1) / d is an unbiased estimate
    /// of N (relative standard deviation 1/√(k − 2), 41% for k = 8). A lookup that
    /// ended with fewer than k answers, its budget unspent, asked every node it
    /// heard of: the network is those nodes and ourselves. `None` if the lookup was
    /// stopped early, spent its budget, or nobody answered.
    pub fn size_estimate(&self) -> Option<f64> {
        let k = self.config.k;
        if self.stopped || self.fixed || k < 3 {
            return None;
        }
        let answered = self.closest_answered().count();
        if answered < k {
            let exhausted = (self.stats.queries as usize) >= self.config.max_queries;
            return (answered > 0 && !exhausted).then(|| (answered + 1) as f64);
        }
        let (kth, _) = self.closest_answered().nth(k - 1)?;
        let d = kth.id.distance(&self.target);
        let b = d.as_bytes();
        let top = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        // The 64 high bits are precision enough: 2^-64 of the keyspace would take a
        // network of 10^19 nodes.
        let fraction = (top as f64 + 1.0) / 2f64.powi(64);
        Some((k - 1) as f64 / fraction)
    }

    /// Whether this lookup is waiting for an answer from `queried`.
    pub fn is_waiting_for(&self, queried: &NodeInfo) -> bool {
        self.candidates.iter().any(|c| {
            c.node.id == queried.id
                && c.node.addr == queried.addr
                && matches!(c.state, State::Asked(_))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, seq::SliceRandom, Rng, SeedableRng};
    use std::collections::HashMap;
    use std::net::{Ipv4Addr, SocketAddr};

    fn node(id: Id, port: u16) -> NodeInfo {
        NodeInfo::new(id, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// A toy network: each node knows `per_node` random others plus a few near itself.
    struct Net {
        nodes: Vec<NodeInfo>,
        tables: HashMap<Id, Vec<NodeInfo>>,
    }

    impl Net {
        fn new(n: usize, seed: u64) -> Net {
            let mut rng = SmallRng::seed_from_u64(seed);
            let nodes: Vec<NodeInfo> = (0..n)
                .map(|i| node(Id::random_with(&mut rng), i as u16 + 1))
                .collect();
            let mut tables = HashMap::new();
            for me in &nodes {
                // A perfect Kademlia view: the k closest in every bucket.
                let mut by_bucket: HashMap<usize, Vec<NodeInfo>> = HashMap::new();
                for other in &nodes {
                    if other.id != me.id {
                        by_bucket
                            .entry(me.id.common_prefix_len(&other.id))
                            .or_default()
                            .push(*other);
                    }
                }
                let mut table = Vec::new();
                for (_, mut bucket) in by_bucket {
                    bucket.shuffle(&mut rng);
                    table.extend(bucket.into_iter().take(8));
                }
                tables.insert(me.id, table);
            }
            Net { nodes, tables }
        }

        fn closest(&self, from: &Id, target: &Id, n: usize) -> Vec<NodeInfo> {
            let mut t = self.tables[from].clone();
            t.sort_by_key(|c| c.id.distance(target));
            t.truncate(n);
            t
        }
    }

    /// Runs a lookup of `target` from `me` over `net` to its end.
    fn run(net: &Net, me: NodeInfo, target: Id) -> Lookup {
        let seeds = net.closest(&me.id, &target, 8);
        let mut lookup = Lookup::new(target, me.id, seeds, LookupConfig::default());
        while !lookup.is_finished() {
            let mut batch = Vec::new();
            while let Some(q) = lookup.next_query(Time::ZERO) {
                batch.push(q);
            }
            for q in batch {
                lookup.on_response(&q, net.closest(&q.id, &target, 8), None);
            }
        }
        lookup
    }

    #[test]
    fn size_estimates_average_to_the_network_size() {
        let net = Net::new(2000, 9);
        let mut rng = SmallRng::seed_from_u64(2);
        let estimates: Vec<f64> = (0..200)
            .map(|_| {
                let me = net.nodes[rng.gen_range(0..net.nodes.len())];
                run(&net, me, Id::random_with(&mut rng))
                    .size_estimate()
                    .expect("an estimate")
            })
            .collect();
        let mean = estimates.iter().sum::<f64>() / estimates.len() as f64;
        // 200 estimates of relative deviation 41%: the mean is within 3% (one
        // standard error) of the truth, 10% leaves room.
        assert!((1800.0..2200.0).contains(&mean), "{mean}");
        // A network smaller than k: every node answered, and that is the count.
        let small = Net::new(5, 3);
        let lookup = run(&small, small.nodes[0], Id::random_with(&mut rng));
        assert_eq!(lookup.size_estimate(), Some(5.0));
        // A lookup stopped early says nothing.
        let mut stopped = run(&net, net.nodes[0], Id::random_with(&mut rng));
        stopped.stop();
        assert_eq!(stopped.size_estimate(), None);
    }

    #[test]
    fn converges_on_true_closest() {
        let net = Net::new(500, 7);
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..20 {
            let target = Id::random_with(&mut rng);
            let me = net.nodes[rng.gen_range(0..net.nodes.len())];
            let seeds = net.closest(&me.id, &target, 8);
            let mut lookup = Lookup::new(target, me.id, seeds, LookupConfig::default());
            let now = Time::ZERO;
            while !lookup.is_finished() {
                let mut batch = Vec::new();
                while let Some(q) = lookup.next_query(now) {
                    batch.push(q);
                }
                assert!(!batch.is_empty(), "lookup stalled without finishing");
                for q in batch {
                    lookup.on_response(&q, net.closest(&q.id, &target, 8), Some(b"tok"));
                }
            }
            let mut truth: Vec<NodeInfo> = net
                .nodes
                .iter()
                .filter(|n| n.id != me.id)
                .copied()
                .collect();
            truth.sort_by_key(|c| c.id.distance(&target));
            let found: Vec<NodeInfo> = lookup.closest_answered().map(|(n, _)| n).collect();
            assert_eq!(found, truth[..8].to_vec());
            assert!(lookup
                .closest_answered()
                .all(|(_, t)| t == Some(&b"tok"[..])));
            assert!(
                lookup.stats().rounds <= 6,
                "rounds {}",
                lookup.stats().rounds
            );
        }
    }

    #[test]
    fn alpha_bounds_queries_in_flight_and_stall_frees_a_slot() {
        let mut rng = SmallRng::seed_from_u64(3);
        let seeds: Vec<NodeInfo> = (0..8).map(|i| node(Id::random_with(&mut rng), i)).collect();
        let config = LookupConfig::default();
        let mut lookup = Lookup::new(Id::random_with(&mut rng), Id::ZERO, seeds, config.clone());
        let t0 = Time::from_millis(1000);
        let mut sent = Vec::new();
        while let Some(q) = lookup.next_query(t0) {
            sent.push(q);
        }
        assert_eq!(sent.len(), ALPHA);
        // Still within the stall interval: no new query.
        assert_eq!(lookup.next_query(t0 + Duration::from_millis(10)), None);
        assert_eq!(lookup.next_stall(t0), Some(t0 + config.stall_after));
        // Once stalled, the next candidates are asked.
        let later = t0 + config.stall_after;
        // Stalled queries no longer ask for a wake-up.
        assert_eq!(lookup.next_stall(later), None);
        assert!(lookup.next_query(later).is_some());
        // A late answer still counts.
        lookup.on_response(&sent[0], [], None);
        assert_eq!(lookup.stats().responses, 1);
    }

    #[test]
    fn failures_widen_the_window_and_exhaustion_finishes() {
        let mut rng = SmallRng::seed_from_u64(4);
        let seeds: Vec<NodeInfo> = (0..12)
            .map(|i| node(Id::random_with(&mut rng), i))
            .collect();
        let mut lookup = Lookup::new(
            Id::random_with(&mut rng),
            Id::ZERO,
            seeds,
            LookupConfig::default(),
        );
        let now = Time::ZERO;
        let mut asked = 0;
        while let Some(q) = lookup.next_query(now) {
            asked += 1;
            lookup.on_failure(&q);
            assert!(asked <= 12);
        }
        assert_eq!(
            asked, 12,
            "every candidate gets a chance once closer ones fail"
        );
        assert!(lookup.is_finished());
        assert_eq!(lookup.closest_answered().count(), 0);
    }

    #[test]
    fn unask_returns_the_candidate() {
        let seeds = [node(Id::random(), 1), node(Id::random(), 2)];
        let mut lookup = Lookup::new(Id::random(), Id::ZERO, seeds, LookupConfig::default());
        let first = lookup.next_query(Time::ZERO).expect("a query");
        lookup.unask(&first);
        assert_eq!(lookup.stats().queries, 0);
        assert!(!lookup.is_finished());
        assert_eq!(
            lookup.next_query(Time::ZERO),
            Some(first),
            "asked again first"
        );
    }

    #[test]
    fn own_id_and_duplicates_are_skipped() {
        let me = Id::random();
        let other = Id::random();
        let lookup = Lookup::new(
            Id::random(),
            me,
            [
                node(me, 1),
                node(other, 2),
                node(other, 2),
                node(Id::random(), 2),
            ],
            LookupConfig::default(),
        );
        assert_eq!(lookup.candidates.len(), 1);
    }

    #[test]
    fn stop_finishes_and_ignores_late_answers() {
        let seeds = [node(Id::random(), 1), node(Id::random(), 2)];
        let mut lookup = Lookup::new(Id::random(), Id::ZERO, seeds, LookupConfig::default());
        let q = lookup.next_query(Time::ZERO).expect("a query");
        lookup.stop();
        assert!(lookup.is_finished());
        assert_eq!(lookup.next_query(Time::ZERO), None);
        lookup.on_response(&q, [], None);
        assert!(lookup.is_finished());
    }
}
