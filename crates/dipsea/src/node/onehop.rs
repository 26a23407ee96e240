//! The one-hop overlay at the node ([`crate::onehop`] holds its pure parts): the
//! member table kept up to date, and requests sent straight to their owners.
//!
//! Hooks, each one call from the Kademlia node's files:
//!
//! - `dispatch`: every query and answer from a member marks it alive
//!   (`onehop_heard`); `dipsea_digest` and `dipsea_members` are answered here
//!   (`on_onehop_query`), and their answers taken here (`on_onehop_answer`); a
//!   delivered broadcast that carries a membership event is applied, not reported
//!   (`onehop_events`); a write token in an operation's answer is cached
//!   (`onehop_token`);
//! - `transactions`: a query to a member that went unanswered counts against it
//!   (`onehop_missed`);
//! - `maintenance`: [`Node::tick`] runs the join, the probes and anti-entropy
//!   (`onehop_tick`);
//! - `operation`: a get, put, mutable get or put, announce or get_peers starts from
//!   its owners, a lookup that learns no other node (`onehop_begin_lookup`).
//!
//! Joining: a node with bootstrap addresses asks one for its member list
//! (`dipsea_members`, paged by id; a long list a chain of pages per id range, all at
//! once), then broadcasts its signed join. Departures: a
//! member that misses `suspect_after` answers in a row is removed and its departure
//! broadcast, signed by the detector; a receiver believes such a departure only when
//! its own ping to the member goes unanswered. Anti-entropy: every
//! `anti_entropy_interval` the digest of the member set is compared with a random
//! member's (push-pull: the member sends its own back), and on a difference the id
//! ranges whose digests differ are pulled.
//!
//! Member pages carry each member's signed join ([`JoinProof`]): a listed member is
//! taken only as its own join broadcast would be (`proven_entries`).
//!
//! Locks: the member table's `RwLock`, the token cache's, the proofs' and the
//! timers' mutexes are leaves: none is held while another lock is taken or a
//! datagram is sent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use rand::Rng;

use super::config::CLIENT_VERSION;
use super::operation::{Begin, Operation, Phase};
use super::ops::Request;
use super::output::{Event, Output};
use super::Node;
use crate::error::Error;
use crate::id::{Id, NodeInfo, ID_LEN};
use crate::lookup::{Lookup, LookupConfig};
use crate::onehop::{self, member_id, JoinProof, MemberEvent, Members, OneHopConfig, Signer};
use crate::push::{Broadcast, KeyRange, SigningKey};
use crate::time::Time;
use crate::wire::{self, CompactNodes, Message, MessageKind, Query, QueryMethod, Response};

/// How long a cached write token is used: tokens stay valid 10 minutes at the
/// issuer (`rpc::token`), so 5 minutes leaves room.
const TOKEN_TTL: Duration = Duration::from_secs(5 * 60);

/// How long a joiner waits for the next page of a bootstrap member's list before
/// asking again (the next bootstrap member, if there are several).
const JOIN_RETRY: Duration = Duration::from_secs(1);

/// Most write tokens cached; past it, the cache is cleared (tokens are fetched again).
const MAX_TOKENS: usize = 65_536;

/// Write tokens by owner address, with when each was received.
type TokenCache = HashMap<SocketAddr, (Box<[u8]>, Time)>;

/// The signed join of each member, with the address it proves.
type Proofs = HashMap<Id, (SocketAddr, JoinProof)>;

/// What follows an accepted membership event.
enum Applied {
    /// Nothing more.
    Done,
    /// A departure claimed by another member: ping the member before believing it.
    Check(NodeInfo),
    /// A departure claimed about this node: announce our join again.
    Refute,
}

/// How often a member's last answer is updated: more often would take the table's
/// write lock on every packet.
const HEARD_EVERY: Duration = Duration::from_secs(1);

/// Most removed members awaiting a revival ping's answer.
const MAX_REVIVING: usize = 1_024;

/// Most members checked after one pull (those we list and the peer does not).
const MAX_CHECKS_PER_PULL: usize = 32;

/// A read of a member's list under way (a join's or a pull's), a bit per id range:
/// the ranges still to read, those read, and those a chain of pages is reading;
/// with the ids listed in them (a pull's), and whether the list's length is known
/// (a join's).
#[derive(Debug, Default)]
struct Pull {
    todo: u16,
    done: u16,
    started: u16,
    sized: bool,
    listed: Vec<Id>,
}

/// What follows a page of a read ([`Pull::on_page`]).
struct ReadStep {
    /// The cursor of the chain's next page, if it goes on.
    next: Option<Id>,
    /// The ranges whose chains start now (a bit each).
    fan_out: u16,
    /// Whether every range is read.
    finished: bool,
}

impl Pull {
    /// Accounts for a page of the chain reading from `range` (of a join when
    /// `join`; `list_len`, the list's length as the answer gives it). Ids come in
    /// order, so the ranges before the last id's are read to their end, and with a
    /// short page every range from here on. The chain goes on in the range of its
    /// last id unless that one is read or has a chain of its own; a join's first
    /// answer starts a chain for every other range when the list is long.
    fn on_page(
        &mut self,
        range: usize,
        page: &[NodeInfo],
        join: bool,
        list_len: Option<usize>,
    ) -> ReadStep {
        if !join {
            self.listed.extend(page.iter().map(|m| m.id));
        }
        let last = page.last().filter(|_| page.len() >= onehop::PAGE);
        let end = last.map_or(onehop::RANGES, |m| onehop::range_of(&m.id));
        for q in range..end {
            self.todo &= !(1 << q);
            self.done |= 1 << q;
        }
        let next = last.map(|m| m.id).filter(|id| {
            let q = onehop::range_of(id);
            let open = self.todo & (1 << q) != 0;
            open && (q == range || self.started & (1 << q) == 0)
        });
        if let Some(id) = next {
            self.started |= 1 << onehop::range_of(&id);
        }
        let mut fan_out = 0;
        if join && !self.sized {
            self.sized = true;
            if list_len.unwrap_or(0) > PARALLEL_PAGES * onehop::PAGE {
                fan_out = self.todo & !self.started;
                self.started |= fan_out;
            }
        }
        ReadStep {
            next,
            fan_out,
            finished: self.todo == 0,
        }
    }
}

/// A joiner reads a list longer than this many pages with a chain of pages per id
/// range, all at once; a shorter one with one chain.
const PARALLEL_PAGES: usize = 2;

// A pull keeps its ranges in a `u16`.
const _: () = assert!(onehop::RANGES <= 16);

/// Most digest exchanges remembered (see `OneHop::exchanged`); past it, the map is
/// cleared.
const MAX_EXCHANGED: usize = 1_024;

/// Most pulls whose listed ids are kept at once.
const MAX_PULLS: usize = 16;

/// What one tick's due timers send.
struct TickPlan {
    /// Membership queries: to, whom, what for.
    sends: Vec<(SocketAddr, Option<Id>, Purpose)>,
    /// The member to ping.
    probe: Option<NodeInfo>,
    /// Whether the join is due to be announced.
    announce: bool,
}

/// What a membership query in flight was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// A page of id range `.0` of the bootstrap member's list, while joining.
    Join(u8),
    /// A digest comparison (anti-entropy).
    Digest,
    /// A page of id range `.0` of a member's list after digests differed.
    Pull(u8),
}

impl Purpose {
    /// The id range a list query reads.
    fn range(self) -> Option<usize> {
        match self {
            Purpose::Join(r) | Purpose::Pull(r) => Some(usize::from(r)),
            Purpose::Digest => None,
        }
    }

    /// The same purpose for id range `r`.
    fn with_range(self, r: usize) -> Purpose {
        // Ranges are below 16.
        let r = r as u8;
        match self {
            Purpose::Join(_) => Purpose::Join(r),
            Purpose::Pull(_) => Purpose::Pull(r),
            Purpose::Digest => Purpose::Digest,
        }
    }
}

#[derive(Debug, Default)]
struct Timers {
    joined: bool,
    announced: bool,
    join_attempts: usize,
    next_join: Time,
    /// When the join is announced: once the contacts heard of in the member list
    /// have had time to answer their pings, so that the broadcast tree reaches every
    /// subtree.
    announce_at: Time,
    next_probe: Time,
    next_sync: Time,
    /// The member probed last (probes go round in id order).
    probed: Option<Id>,
}

/// One-hop counters (in [`super::NodeStats`]).
#[derive(Debug, Default)]
pub(super) struct Counters {
    /// Membership events refused: a join not signed by its member's key, a
    /// departure announced by a non-member, a malformed event, a listed member
    /// without a valid signed join.
    pub(super) forged: AtomicU64,
    /// Departures announced by another member that this node's own check refuted.
    pub(super) refuted: AtomicU64,
    /// Members this node found dead itself and announced.
    pub(super) detected: AtomicU64,
    /// Items put to a new owner after the members changed and acknowledged by it
    /// (see `onehop_handoff`).
    pub(super) handed_off: AtomicU64,
    /// Hand-off puts given up: unanswered or refused at every send, or their owner
    /// gone.
    pub(super) handoff_failed: AtomicU64,
}

/// A one-hop node's state.
#[derive(Debug)]
pub(super) struct OneHop {
    config: OneHopConfig,
    key: SigningKey,
    seq: AtomicI64,
    members: RwLock<Members>,
    queries: Mutex<HashMap<u32, Purpose>>,
    tokens: Mutex<TokenCache>,
    /// What this node lists in member pages beside each member (see
    /// [`JoinProof`]): from its join broadcast or the page it was learned from.
    proofs: Mutex<Proofs>,
    /// Members removed here but listed by another member: pinged at their address,
    /// taken back if they answer from it.
    reviving: Mutex<HashMap<Id, SocketAddr>>,
    /// The ids a member listed in the pages of a pull so far, by its address.
    pulls: Mutex<HashMap<SocketAddr, Pull>>,
    /// When this node last sent a digest to each member: a digest from a member
    /// it sent one to lately is answered, not returned (else two members whose
    /// digests differ would send theirs back and forth).
    exchanged: Mutex<HashMap<SocketAddr, Time>>,
    timers: Mutex<Timers>,
    handoff: Mutex<Handoff>,
    pub(super) counters: Counters,
}

impl OneHop {
    /// The state of a new one-hop node with member key `key`, at `now`.
    pub(super) fn new(config: OneHopConfig, key: SigningKey, now: Time) -> OneHop {
        let own = member_id(&key.verifying_key().to_bytes());
        let unbound = SocketAddr::from(([0, 0, 0, 0], 0));
        // `NodeConfig::validate` built this scheme already; were it to fail here, the
        // node would partition by XOR rather than not start.
        let partitioner = config
            .partitioner
            .build()
            .unwrap_or_else(|_| Box::new(crate::keyspace::Xor::new()));
        let members = Members::with_partitioner(own, unbound, partitioner, now);
        OneHop {
            config,
            key,
            seq: AtomicI64::new(1),
            members: RwLock::new(members),
            queries: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            proofs: Mutex::new(HashMap::new()),
            reviving: Mutex::new(HashMap::new()),
            pulls: Mutex::new(HashMap::new()),
            exchanged: Mutex::new(HashMap::new()),
            timers: Mutex::new(Timers::default()),
            handoff: Mutex::new(Handoff::default()),
            counters: Counters::default(),
        }
    }

    /// The member id of a key.
    pub(super) fn id_of(key: &SigningKey) -> Id {
        member_id(&key.verifying_key().to_bytes())
    }

    /// Whether the node has its member list (it joined, or needed no one to join).
    pub(super) fn is_joined(&self) -> bool {
        self.timers.lock().joined
    }
}

impl Node {
    fn onehop(&self) -> Option<&OneHop> {
        self.onehop.as_deref()
    }

    /// Whether this node runs the one-hop overlay.
    pub fn is_one_hop(&self) -> bool {
        self.onehop.is_some()
    }

    /// The members this node knows (itself included), sorted by id; empty on a
    /// Kademlia node.
    pub fn members(&self) -> Vec<Id> {
        self.onehop()
            .map(|o| o.members.read().ids())
            .unwrap_or_default()
    }

    /// The member the one-hop node knows as `id`: its address, last answer and
    /// failures.
    pub fn member(&self, id: &Id) -> Option<onehop::Member> {
        self.onehop()?.members.read().get(id).copied()
    }

    /// The digest of the member set (see [`Members`]); `None` on a Kademlia node.
    pub fn member_digest(&self) -> Option<[u8; 20]> {
        Some(self.onehop()?.members.read().digest())
    }

    /// The owners of `key` among the members, `replicas` of them, in order of
    /// preference.
    ///
    /// Errors: [`Error::BadInput`] on a Kademlia node, or when the node knows fewer
    /// members than its replicas (the partitioner's `TooFewMembers`).
    pub fn owners(&self, key: &Id) -> Result<Vec<NodeInfo>, Error> {
        let o = self
            .onehop()
            .ok_or_else(|| Error::BadInput("not a one-hop node".into()))?;
        let members = o.members.read();
        let ids = members.owners_exact(key, o.config.replicas)?;
        Ok(ids
            .into_iter()
            .filter_map(|id| members.get(&id).map(|m| NodeInfo::new(id, m.addr)))
            .collect())
    }

    /// Tells a one-hop node the address it is reached at (the driver calls it once
    /// its socket is bound); it is what its join announces. No effect on a Kademlia
    /// node.
    pub fn set_member_addr(&self, addr: SocketAddr) {
        if let Some(o) = self.onehop() {
            let _ = o.members.write().insert(self.id, addr, Time::ZERO);
        }
    }

    /// Announces this node's own departure to the members (before a clean
    /// shutdown), after putting each item it owns to the member that owns it in its
    /// place; false on a Kademlia node or when no member could be reached.
    pub fn leave(&self, now: Time, out: &mut Output) -> bool {
        if let Some(o) = self.onehop() {
            self.hand_off_before_leaving(o, now, out);
        }
        self.announce_event(MemberEvent::Leave { id: self.id }, now, out) > 0
    }

    /// Whether `id` is a member listed at `from` (false on a Kademlia node): its
    /// puts need no write token.
    pub(super) fn is_member_at(&self, id: Id, from: SocketAddr) -> bool {
        self.onehop()
            .is_some_and(|o| o.members.read().get(&id).is_some_and(|m| m.addr == from))
    }

    /// Any message from `id`: a member is alive; a departure claimed for it is
    /// refuted.
    ///
    /// Called per packet: a member heard from lately, with no failure and no
    /// suspicion, costs a shared read of the table, nothing more.
    pub(super) fn onehop_heard(&self, id: Id, from: SocketAddr, now: Time) {
        let Some(o) = self.onehop() else { return };
        let quiet = o
            .members
            .read()
            .get(&id)
            .map(|m| m.failures == 0 && !m.suspected && now.since(m.last_answer) < HEARD_EVERY);
        match quiet {
            Some(true) => return,
            Some(false) => {
                if o.members.write().heard(&id, now) == Some(true) {
                    o.counters.refuted.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
            None => {}
        }
        // A member removed here (wrongly: it was slow) answers from its address.
        if o.reviving.lock().remove(&id) == Some(from) {
            let _ = o.members.write().insert(id, from, now);
        }
    }

    /// A query to `id` went unanswered after its retries.
    pub(super) fn onehop_missed(&self, id: Id, now: Time, out: &mut Output) {
        let Some(o) = self.onehop() else { return };
        let suspected = o.members.read().get(&id).is_some_and(|m| m.suspected);
        if suspected {
            // Our own check confirms a departure another member announced.
            o.members.write().remove(&id, now);
            return;
        }
        let failures = o.members.write().missed(&id);
        if failures >= o.config.suspect_after && o.members.write().remove(&id, now) {
            o.counters.detected.fetch_add(1, Ordering::Relaxed);
            self.announce_event(MemberEvent::Leave { id }, now, out);
        }
    }

    /// Caches the write token `from` gave in an answer to one of our operations.
    pub(super) fn onehop_token(&self, from: SocketAddr, token: Option<&[u8]>, now: Time) {
        let (Some(o), Some(token)) = (self.onehop(), token) else {
            return;
        };
        let mut tokens = o.tokens.lock();
        if tokens.len() >= MAX_TOKENS {
            tokens.clear();
        }
        tokens.insert(from, (Box::from(token), now));
    }

    /// A `dipsea_digest` or `dipsea_members` query, answered here; false when it is
    /// neither (or this is not a one-hop node) and dispatch goes on.
    pub(super) fn on_onehop_query(
        &self,
        from: SocketAddr,
        msg: &Message<'_>,
        query: &Query<'_>,
        now: Time,
        out: &mut Output,
    ) -> bool {
        let Some(o) = self.onehop() else { return false };
        let QueryMethod::Unknown { method, target } = query.method else {
            return false;
        };
        if method != onehop::MEMBERS_METHOD && method != onehop::DIGEST_METHOD {
            return false;
        }
        let (mut v4, mut v6, mut proofs) = (Vec::new(), Vec::new(), Vec::new());
        if method == onehop::MEMBERS_METHOD {
            let (page, page_proofs) = self.proven_page(o, target);
            wire::write_compact_nodes(&page, &mut v4, &mut v6);
            // The proofs go in the order of `nodes`, then `nodes6`.
            let (ipv4, ipv6): (Vec<_>, Vec<_>) = page
                .iter()
                .zip(&page_proofs)
                .partition(|(m, _)| m.addr.is_ipv4());
            for (_, proof) in ipv4.into_iter().chain(ipv6) {
                proof.write(&mut proofs);
            }
        }
        let (digest, count) = {
            let members = o.members.read();
            (members.digest(), members.len())
        };
        let mut ranges = Vec::new();
        if method == onehop::DIGEST_METHOD {
            // Push-pull: the asker's digest differs from ours, so send ours back, to
            // be answered with its range digests, unless this is that return (from
            // members only).
            let differs = target.is_some_and(|theirs| *theirs.as_bytes() != digest);
            let quiet = o.config.anti_entropy_interval / 2;
            let lately = o
                .exchanged
                .lock()
                .get(&from)
                .is_some_and(|at| now.since(*at) < quiet);
            if differs && !lately && o.members.read().contains(&query.id) {
                let ours = Some(Id::from(digest));
                self.members_query(from, Some(query.id), ours, Purpose::Digest, now, out);
            }
            for d in o.members.read().range_digests() {
                ranges.extend_from_slice(d);
            }
        }
        let mut response = Response::new(self.id);
        response.num = Some(count as i64);
        if method == onehop::DIGEST_METHOD {
            response.token = Some(&digest);
            response.digests = Some(&ranges);
        }
        response.nodes = CompactNodes::v4(&v4).ok().filter(|n| !n.is_empty());
        response.nodes6 = CompactNodes::v6(&v6).ok().filter(|n| !n.is_empty());
        response.proofs = Some(&proofs[..]).filter(|p| !p.is_empty());
        let reply = Message {
            tid: msg.tid,
            version: Some(&CLIENT_VERSION),
            ip: Some(from),
            read_only: false,
            network: None,
            kind: MessageKind::Response(response),
        };
        self.send_datagram(out, from, |buf| reply.encode(buf));
        self.count_sent(1, out.last_datagram().len());
        true
    }

    /// Up to [`onehop::PAGE`] members whose ids follow `after`, each with the signed
    /// join that proves it at its address (this node's own signed on demand); a
    /// member held without one (none should be) is left out, and the page filled
    /// from the members after it.
    fn proven_page(&self, o: &OneHop, after: Option<Id>) -> (Vec<NodeInfo>, Vec<JoinProof>) {
        let (mut page, mut proofs) = (Vec::new(), Vec::new());
        let mut cursor = after;
        loop {
            let batch = o.members.read().page(cursor, onehop::PAGE);
            let full = batch.len() == onehop::PAGE;
            cursor = batch.last().map(|m| m.id);
            for m in batch {
                if page.len() == onehop::PAGE {
                    return (page, proofs);
                }
                if let Some(proof) = self.listed_proof(o, &m) {
                    page.push(m);
                    proofs.push(proof);
                }
            }
            if !full {
                return (page, proofs);
            }
        }
    }

    /// The signed join that proves member `m` at its address: this node's own, or
    /// the one kept for `m` if it is for that address.
    fn listed_proof(&self, o: &OneHop, m: &NodeInfo) -> Option<JoinProof> {
        if m.id == self.id {
            return Some(self.own_proof(o, m.addr));
        }
        o.proofs
            .lock()
            .get(&m.id)
            .filter(|(at, _)| *at == m.addr)
            .map(|(_, p)| *p)
    }

    /// This node's signed join at `addr`: the one it announced or listed last, or a
    /// new one when its address changed since.
    fn own_proof(&self, o: &OneHop, addr: SocketAddr) -> JoinProof {
        let mut proofs = o.proofs.lock();
        match proofs.get(&self.id) {
            Some((at, proof)) if *at == addr => *proof,
            _ => {
                let seq = o.seq.fetch_add(1, Ordering::Relaxed);
                let proof = JoinProof::sign(&o.key, seq, addr);
                proofs.insert(self.id, (addr, proof));
                proof
            }
        }
    }

    /// Sends a membership query (`dipsea_digest` for a digest comparison, else
    /// `dipsea_members`); tracks it under `purpose`.
    fn members_query(
        &self,
        to: SocketAddr,
        id: Option<Id>,
        target: Option<Id>,
        purpose: Purpose,
        now: Time,
        out: &mut Output,
    ) {
        let Some(o) = self.onehop() else { return };
        let method = match purpose {
            Purpose::Digest => onehop::DIGEST_METHOD,
            Purpose::Join(_) | Purpose::Pull(_) => onehop::MEMBERS_METHOD,
        };
        let own = self.id;
        let tid = self.send_encoded(to, id, None, true, now, out, |tid, buf| {
            Message {
                version: Some(&CLIENT_VERSION),
                ..Message::query(tid, own, QueryMethod::Unknown { method, target })
            }
            .encode(buf)
        });
        if let Some(tid) = tid {
            o.queries.lock().insert(tid, purpose);
        }
        if purpose == Purpose::Digest {
            let mut exchanged = o.exchanged.lock();
            if exchanged.len() >= MAX_EXCHANGED {
                exchanged.clear();
            }
            exchanged.insert(to, now);
        }
    }

    /// An answer to a query sent with no operation: when it was a membership query,
    /// takes what it carries.
    pub(super) fn on_onehop_answer(
        &self,
        tid: u32,
        from: SocketAddr,
        seen_as: Option<SocketAddr>,
        response: Option<&Response<'_>>,
        now: Time,
        out: &mut Output,
    ) {
        let Some(o) = self.onehop() else { return };
        if self.on_handoff_answer(o, tid, response.is_some()) {
            return;
        }
        let Some(purpose) = o.queries.lock().remove(&tid) else {
            return;
        };
        let Some(r) = response else { return };
        match purpose {
            Purpose::Digest => {
                let theirs = r.token.and_then(|t| <[u8; 20]>::try_from(t).ok());
                if theirs.is_some_and(|d| d != o.members.read().digest()) {
                    let todo = differing_ranges(&o.members.read(), r.digests);
                    self.start_read(o, from, Some(r.id), todo, Purpose::Pull(0), now, out);
                }
            }
            Purpose::Join(_) | Purpose::Pull(_) => {
                if matches!(purpose, Purpose::Join(_)) {
                    if let Some(seen) = seen_as {
                        self.learn_own_addr(o, seen);
                    }
                }
                self.take_member_page(o, from, r, purpose, now, out);
            }
        }
    }

    /// A page of the member list (an answer to `dipsea_members`): its members taken
    /// (a tombstoned one pinged, and revived if it answers), the next page asked
    /// for, and after a join's last page its announcement scheduled.
    fn take_member_page(
        &self,
        o: &OneHop,
        from: SocketAddr,
        r: &Response<'_>,
        purpose: Purpose,
        now: Time,
        out: &mut Output,
    ) {
        let page: Vec<NodeInfo> = r
            .nodes
            .iter()
            .flat_map(|n| n.iter())
            .chain(r.nodes6.iter().flat_map(|n| n.iter()))
            .collect();
        let proven = self.proven_entries(o, &page, r.proofs);
        let mut revive = Vec::new();
        {
            let mut members = o.members.write();
            let ttl = o.config.tombstone;
            for m in &proven {
                if members.tombstoned(&m.id, now, ttl) {
                    revive.push(*m);
                } else {
                    let _ = members.insert_listed(m.id, m.addr, now, ttl);
                }
            }
        }
        if matches!(purpose, Purpose::Join(_)) {
            // The joiner's routing table learns a contact in each subtree the
            // list covers (one ping each), which the join's broadcast needs.
            for m in &proven {
                let outcome = self.table_for(&m.addr).on_heard(*m, now);
                self.act_on_insert(outcome, now, out);
            }
        }
        for m in revive {
            {
                let mut reviving = o.reviving.lock();
                if reviving.len() >= MAX_REVIVING {
                    reviving.clear();
                }
                reviving.insert(m.id, m.addr);
            }
            self.send_query(m.addr, Some(m.id), None, QueryMethod::Ping, now, out);
        }
        self.continue_read(o, from, r, &page, purpose, now, out);
    }

    /// After a join's last page: the join is announced shortly.
    fn joined(&self, o: &OneHop, now: Time) {
        let at = now + self.rtt.timeout();
        let mut t = o.timers.lock();
        t.joined = true;
        t.announce_at = at;
        drop(t);
        self.want_tick_at(at);
    }

    /// Starts reading the id ranges of `todo` (a bit each) of the list of the member
    /// at `from` (`peer`, when known). A pull reads them all at once. A join starts
    /// at the top, and once the first answer says how long the list is, reads a
    /// long one with a chain of pages per range: N members take about
    /// N / (16 × PAGE) round trips, not N / PAGE.
    #[allow(clippy::too_many_arguments)]
    fn start_read(
        &self,
        o: &OneHop,
        from: SocketAddr,
        peer: Option<Id>,
        todo: u16,
        purpose: Purpose,
        now: Time,
        out: &mut Output,
    ) {
        if todo == 0 {
            return;
        }
        let started = match purpose {
            Purpose::Join(_) => 1,
            _ => todo,
        };
        {
            let mut pulls = o.pulls.lock();
            if pulls.len() >= MAX_PULLS && !pulls.contains_key(&from) {
                pulls.clear();
            }
            pulls.insert(
                from,
                Pull {
                    todo,
                    started,
                    ..Pull::default()
                },
            );
        }
        for r in (0..onehop::RANGES).filter(|r| started & (1 << r) != 0) {
            let cursor = onehop::range_cursor(r);
            self.members_query(from, peer, cursor, purpose.with_range(r), now, out);
        }
    }

    /// A page of a chain reading from range `purpose.range()`: its next page, the
    /// chains it starts ([`Pull::on_page`]); once every range is read, the join is
    /// done, or the pull checks what the peer did not list.
    #[allow(clippy::too_many_arguments)]
    fn continue_read(
        &self,
        o: &OneHop,
        from: SocketAddr,
        r: &Response<'_>,
        page: &[NodeInfo],
        purpose: Purpose,
        now: Time,
        out: &mut Output,
    ) {
        let Some(range) = purpose.range() else { return };
        let join = matches!(purpose, Purpose::Join(_));
        let list_len = r.num.and_then(|n| usize::try_from(n).ok());
        let step = {
            let mut pulls = o.pulls.lock();
            let Some(pull) = pulls.get_mut(&from) else {
                return;
            };
            pull.on_page(range, page, join, list_len)
        };
        let ReadStep {
            next,
            fan_out,
            finished,
        } = step;
        if join {
            // A join that makes progress is not started again elsewhere.
            o.timers.lock().next_join = now + JOIN_RETRY;
        }
        if let Some(cursor) = next {
            let q = onehop::range_of(&cursor);
            self.members_query(
                from,
                Some(r.id),
                Some(cursor),
                purpose.with_range(q),
                now,
                out,
            );
        }
        for q in (0..onehop::RANGES).filter(|q| fan_out & (1 << q) != 0) {
            let cursor = onehop::range_cursor(q);
            self.members_query(from, Some(r.id), cursor, purpose.with_range(q), now, out);
        }
        match (finished, join) {
            (false, _) => {}
            (true, true) => {
                o.pulls.lock().remove(&from);
                self.joined(o, now);
            }
            (true, false) => self.check_unlisted(o, from, r.id, now, out),
        }
    }

    /// The entries of a member page that this node believes, itself left out: those
    /// it holds at the same address already, and those whose signed join in `proofs`
    /// (one per entry, in order) holds and comes from a key the accept policy
    /// allows, each kept for this node's own pages. The others are counted forged.
    fn proven_entries(
        &self,
        o: &OneHop,
        page: &[NodeInfo],
        proofs: Option<&[u8]>,
    ) -> Vec<NodeInfo> {
        let proofs = proofs
            .and_then(JoinProof::read_all)
            .filter(|p| p.len() == page.len());
        let known: Vec<bool> = {
            let members = o.members.read();
            page.iter()
                .map(|m| members.get(&m.id).is_some_and(|held| held.addr == m.addr))
                .collect()
        };
        let mut proven = Vec::with_capacity(page.len());
        let mut forged = 0;
        for (i, m) in page.iter().enumerate() {
            if m.id == self.id {
                continue;
            }
            if known[i] {
                proven.push(*m);
                continue;
            }
            let proof = proofs.as_ref().map(|p| p[i]).filter(|p| {
                self.config.broadcast.accept.allows(&p.origin) && p.proves(&m.id, m.addr)
            });
            match proof {
                Some(proof) => {
                    o.proofs.lock().insert(m.id, (m.addr, proof));
                    proven.push(*m);
                }
                None => forged += 1,
            }
        }
        if forged > 0 {
            o.counters.forged.fetch_add(forged, Ordering::Relaxed);
        }
        proven
    }

    /// After the last page of a pull from `peer`: the members we list in the ranges
    /// pulled and it does not are suspected and pinged, so that a departure this
    /// node missed (the broadcast lost, and found only by a probe minutes later) is
    /// found now; a member that answers stays. A list only adds members, so without
    /// this two members' digests differ, and every exchange between them pulls the
    /// same ranges again, until the probe comes round.
    fn check_unlisted(&self, o: &OneHop, from: SocketAddr, peer: Id, now: Time, out: &mut Output) {
        let Some(Pull {
            done, mut listed, ..
        }) = o.pulls.lock().remove(&from)
        else {
            return;
        };
        listed.sort_unstable();
        let pulled = |id: &Id| done & (1 << onehop::range_of(id)) != 0;
        let unlisted: Vec<NodeInfo> = {
            let mut members = o.members.write();
            let ids: Vec<Id> = members
                .ids()
                .into_iter()
                .filter(|id| *id != self.id && *id != peer && pulled(id))
                .filter(|id| listed.binary_search(id).is_err())
                .take(MAX_CHECKS_PER_PULL)
                .collect();
            ids.iter()
                .filter_map(|id| {
                    let addr = members.get(id)?.addr;
                    members.suspect(id);
                    Some(NodeInfo::new(*id, addr))
                })
                .collect()
        };
        for m in unlisted {
            self.send_query(m.addr, Some(m.id), None, QueryMethod::Ping, now, out);
        }
    }

    /// The joiner's address as its bootstrap member saw it, when it bound an
    /// unspecified address (0.0.0.0) and so could not say.
    fn learn_own_addr(&self, o: &OneHop, seen: SocketAddr) {
        let mut members = o.members.write();
        let Some(own) = members.get(&self.id).map(|m| m.addr) else {
            return;
        };
        if own.ip().is_unspecified() {
            let addr = SocketAddr::new(seen.ip(), own.port());
            let _ = members.insert(self.id, addr, Time::ZERO);
        }
    }

    /// Signs `event` with the member key and broadcasts it to every member;
    /// returns the hand-offs sent.
    fn announce_event(&self, event: MemberEvent, now: Time, out: &mut Output) -> usize {
        let Some(o) = self.onehop() else { return 0 };
        let seq = o.seq.fetch_add(1, Ordering::Relaxed);
        let Ok(b) = Broadcast::sign(&o.key, seq, KeyRange::ALL, &event.encode()) else {
            return 0;
        };
        let beta = usize::from(self.config.broadcast.beta);
        self.broadcast(b, &[], beta, now, out)
    }

    /// Takes the membership events out of the broadcasts delivered into `out` from
    /// event `from` on, and applies them: they are the overlay's, not the user's.
    pub(super) fn onehop_events(&self, from: usize, now: Time, out: &mut Output) {
        let Some(o) = self.onehop() else { return };
        if out.events.len() <= from {
            return;
        }
        let delivered = out.events.split_off(from);
        let mut keep = Vec::new();
        let mut checks = Vec::new();
        let mut refute = false;
        for event in delivered {
            let b = match event {
                Event::Broadcast(b) if MemberEvent::is_event(&b.payload) => b,
                other => {
                    keep.push(other);
                    continue;
                }
            };
            match self.apply_event(o, &b, now) {
                Some(Applied::Done) => {}
                Some(Applied::Check(member)) => checks.push(member),
                Some(Applied::Refute) => refute = true,
                None => {
                    o.counters.forged.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        out.events.extend(keep);
        if refute {
            // A member believes us gone: announce our join again (at once).
            o.timers.lock().announced = false;
            self.want_tick_at(now);
        }
        for member in checks {
            self.send_query(
                member.addr,
                Some(member.id),
                None,
                QueryMethod::Ping,
                now,
                out,
            );
        }
    }

    /// Applies one membership event signed by `b.origin`: `None` when it is refused
    /// (see [`MemberEvent::check`]), else what follows.
    fn apply_event(&self, o: &OneHop, b: &Broadcast, now: Time) -> Option<Applied> {
        let event = MemberEvent::decode(&b.payload)?;
        let mut members = o.members.write();
        let signer = event.check(&b.origin, |id| members.contains(id))?;
        Some(match (event, signer) {
            (MemberEvent::Join { id, addr }, _) => {
                if id != self.id {
                    let _ = members.insert(id, addr, now);
                    drop(members);
                    o.proofs.lock().insert(id, (addr, JoinProof::of(b)));
                }
                Applied::Done
            }
            (MemberEvent::Leave { id }, Signer::Subject) => {
                members.remove(&id, now);
                Applied::Done
            }
            // Another member thinks we are gone: it missed our answers for a while.
            (MemberEvent::Leave { id }, _) if id == self.id => Applied::Refute,
            (MemberEvent::Leave { id }, _) => match members.get(&id).map(|m| m.addr) {
                Some(addr) => {
                    members.suspect(&id);
                    Applied::Check(NodeInfo::new(id, addr))
                }
                None => Applied::Done,
            },
        })
    }

    /// The overlay's periodic work: join, announce, probe, anti-entropy, hand-off.
    /// Returns when it is next due (`Time::NEVER` on a Kademlia node).
    pub(super) fn onehop_tick(&self, now: Time, out: &mut Output) -> Time {
        let Some(o) = self.onehop() else {
            return Time::NEVER;
        };
        o.members.write().expire_tombstones(now, o.config.tombstone);
        o.tokens
            .lock()
            .retain(|_, (_, at)| now.since(*at) < TOKEN_TTL);
        // The proofs of departed members go once they are as many as the members.
        let held = o.members.read().len();
        if o.proofs.lock().len() > 2 * held + 64 {
            let ids = o.members.read().ids();
            o.proofs
                .lock()
                .retain(|id, _| ids.binary_search(id).is_ok());
        }
        // The configured addresses, then the saved contacts (a table loaded from a
        // file; the simulator's node to join through); read before the timers' lock.
        let routers: Vec<SocketAddr> = self
            .config
            .bootstrap
            .iter()
            .copied()
            .chain(self.seeds.lock().iter().map(|s| s.addr))
            .collect();
        let (plan, mut next) = self.plan_tick(o, &routers, now);
        next = next.min(self.onehop_handoff(o, now, out));
        let digest = Some(Id::from(o.members.read().digest()));
        for (to, id, purpose) in plan.sends {
            match purpose {
                // A digest query carries ours (push-pull).
                Purpose::Digest => self.members_query(to, id, digest, purpose, now, out),
                // A join reads every range of the list at once.
                _ => self.start_read(o, to, id, u16::MAX, purpose, now, out),
            }
        }
        if let Some(p) = plan.probe {
            self.send_query(p.addr, Some(p.id), None, QueryMethod::Ping, now, out);
        }
        if plan.announce && !self.announce_join(o, now, out) {
            // No contact speaks the broadcast yet: try again shortly.
            next = next.min(now + JOIN_RETRY);
        }
        next
    }

    /// Under the timers' lock: which timers are due at `now`, what they send, and when
    /// the next one is (hand-off apart).
    fn plan_tick(&self, o: &OneHop, routers: &[SocketAddr], now: Time) -> (TickPlan, Time) {
        let mut t = o.timers.lock();
        if t.next_probe == Time::ZERO {
            // First tick: joined at once when there is no one to join.
            t.joined = routers.is_empty();
            t.announced = t.joined;
            t.next_probe = now + o.config.probe_interval;
            t.next_sync = now + o.config.anti_entropy_interval;
        }
        let mut plan = TickPlan {
            sends: Vec::new(),
            probe: None,
            announce: t.joined && !t.announced && now >= t.announce_at,
        };
        if !t.joined && now >= t.next_join {
            if let Some(&to) = routers.get(t.join_attempts % routers.len().max(1)) {
                plan.sends.push((to, None, Purpose::Join(0)));
            }
            t.join_attempts += 1;
            t.next_join = now + JOIN_RETRY;
        }
        if now >= t.next_probe {
            t.next_probe = now + o.config.probe_interval;
            plan.probe = o.members.read().next_after(t.probed);
            t.probed = plan.probe.map(|p| p.id);
        }
        if now >= t.next_sync && t.joined {
            t.next_sync = now + o.config.anti_entropy_interval;
            let pick = self.rng().gen::<usize>();
            if let Some(peer) = o.members.read().nth_other(pick) {
                plan.sends.push((peer.addr, Some(peer.id), Purpose::Digest));
            }
        }
        let mut next = t.next_probe.min(t.next_sync);
        if !t.joined {
            next = next.min(t.next_join);
        } else if !t.announced {
            next = next.min(t.announce_at.max(now));
        }
        (plan, next)
    }

    /// Broadcasts this node's signed join; whether any contact was sent it.
    fn announce_join(&self, o: &OneHop, now: Time, out: &mut Output) -> bool {
        let addr = o.members.read().get(&self.id).map(|m| m.addr);
        let sent = addr.map_or(0, |addr| {
            self.announce_event(MemberEvent::Join { id: self.id, addr }, now, out)
        });
        if sent > 0 {
            o.timers.lock().announced = true;
        }
        sent > 0
    }

    /// On a one-hop node, puts an operation that reads or writes a key in a lookup of
    /// that key's owners alone (one round trip). A put, an announce, a mutable put
    /// with the caller's seq or a re-publish, whose every owner gave us a write token
    /// lately, starts with those tokens: its store queries go out at once. A
    /// subscription asks the owners too. `None` for the requests that stay
    /// Kademlia's (bootstrap, find_node, sampling, pings) and on a Kademlia node.
    pub(super) fn onehop_begin_lookup(
        &self,
        target: Id,
        operation: &mut Operation,
    ) -> Option<Begin> {
        let o = self.onehop()?;
        let cached = match &operation.request {
            Request::Put(_) | Request::Announce { .. } | Request::RepublishMutable(_) => true,
            // With the caller's seq the owners' versions are not read, only their
            // tokens: one round trip too. Without it the current seq is read first.
            Request::PutMutable { options, .. } => options.seq.is_some(),
            // A subscription goes to the owners, which store what it watches.
            Request::Get(_)
            | Request::GetPeers(_)
            | Request::GetMutable { .. }
            | Request::Scrape(_)
            | Request::Subscribe(_) => false,
            _ => return None,
        };
        let owners = o.members.read().owners(&target, o.config.replicas);
        let n = owners.len().max(1);
        // An immutable item is checked by its hash, so any owner's copy will do: ask
        // the primary first, the next ones only if it stalls, fails or lacks it (two
        // packets a get). The others ask every owner at once: a mutable get wants the
        // highest version, get_peers every owner's peers, a put every owner's token.
        let alpha = match operation.request {
            Request::Get(_) => 1,
            _ => n,
        };
        let config = LookupConfig {
            k: n,
            alpha,
            max_candidates: n,
            max_queries: n,
            ..self.config.lookup.clone()
        };
        let mut lookup = Lookup::fixed(target, owners.iter().copied(), config);
        if cached {
            let tokens = o.tokens.lock();
            let fresh: Vec<(NodeInfo, Box<[u8]>)> = owners
                .iter()
                .filter_map(|m| Some((*m, tokens.get(&m.addr)?.0.clone())))
                .collect();
            if fresh.len() == owners.len() {
                for (m, token) in &fresh {
                    lookup.answered_with(m, token);
                }
            }
        }
        operation.phase = Phase::Lookup(Box::new(lookup));
        Some(Begin::Run)
    }

    /// Heap bytes of the one-hop state (member table, token cache, member proofs:
    /// a map slot of id, address and proof, at most 7/8 full).
    pub(super) fn onehop_heap_bytes(&self) -> usize {
        self.onehop().map_or(0, |o| {
            let proof_slot = std::mem::size_of::<(Id, (SocketAddr, JoinProof))>() + 1;
            o.members.read().heap_bytes()
                + o.tokens.lock().len() * 64
                + o.proofs.lock().capacity() * proof_slot * 8 / 7
        })
    }

    /// The member count, for the stats (0 on a Kademlia node).
    pub(super) fn member_count(&self) -> usize {
        self.onehop().map_or(0, |o| o.members.read().len())
    }

    /// The one-hop counters: forged, refuted, detected, handed off, hand-offs
    /// failed (zeros on a Kademlia node).
    pub(super) fn onehop_counters(&self) -> [u64; 5] {
        self.onehop().map_or([0; 5], |o| {
            let c = &o.counters;
            [
                c.forged.load(Ordering::Relaxed),
                c.refuted.load(Ordering::Relaxed),
                c.detected.load(Ordering::Relaxed),
                c.handed_off.load(Ordering::Relaxed),
                c.handoff_failed.load(Ordering::Relaxed),
            ]
        })
    }

    /// Hand-off puts waiting to be sent (0 on a Kademlia node).
    pub(super) fn handoff_queued(&self) -> usize {
        self.onehop().map_or(0, |o| o.handoff.lock().queued())
    }
}

/// The id ranges (a bit each) whose digest in `theirs` (a member's range digests,
/// 20 bytes each) differs from ours; every range when `theirs` is missing or not
/// that size (a member that does not send them).
fn differing_ranges(members: &Members, theirs: Option<&[u8]>) -> u16 {
    let Some(theirs) = theirs.filter(|t| t.len() == onehop::RANGES * ID_LEN) else {
        return u16::MAX;
    };
    members
        .range_digests()
        .iter()
        .zip(theirs.chunks_exact(ID_LEN))
        .enumerate()
        .filter(|(_, (ours, theirs))| ours[..] != theirs[..])
        .fold(0, |mask, (r, _)| mask | 1 << r)
}

/// The member key and id of a new one-hop node: a fresh key from `rng`, the id its
/// SHA-1.
pub(super) fn new_member_key<R: rand::RngCore + ?Sized>(rng: &mut R) -> (SigningKey, Id) {
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let key = SigningKey::from_bytes(&secret);
    let id = OneHop::id_of(&key);
    (key, id)
}

#[cfg(test)]
#[path = "onehop_tests.rs"]
mod tests;

#[path = "onehop_handoff.rs"]
mod handoff;
use handoff::Handoff;
