//! Item hand-off on a one-hop node: when members join or leave, the items this node
//! holds whose owners changed are put to their new owners, so that a key stays found
//! at its owners however many of them have changed since it was put.
//!
//! Each node remembers the member set it last handed off from (its *basis*, a
//! partitioner of those members). A pass, run [`HANDOFF_DELAY`] after the member set
//! changed (so a burst of joins costs one pass), computes each held item's owners
//! under the basis and under the current members; the new owners are those not among
//! the old ones. One holder sends to them: the first old owner, in order of
//! preference, that is still a member (if none is, any holder). Every holder computes
//! the same sender from the same two member sets, so an item moves once, not once per
//! replica; a holder whose view differs sends when its own view catches up.
//!
//! The puts go without a write token: owners take them from members (see
//! [`crate::rpc::Context::member_writer`]). At most [`HANDOFF_BATCH`] go per tick;
//! the rest wait in a queue, read from the store again when their turn comes (a newer
//! version put meanwhile is what moves). A put the owner does not acknowledge (no
//! answer after the query's retries, or an error) is queued again while the owner is
//! still a member, [`HANDOFF_ATTEMPTS`] sends in all; an owner that left gets no
//! more, as the pass its departure starts names the owner in its place. Counted:
//! `items_handed_off` when acknowledged, `handoff_failed` when given up. Peer
//! announcements do not move: a peer is
//! announced from its own address, which another node cannot speak for; BEP 5's
//! re-announcements (every 30 minutes by the peers) refill the new owners.
//!
//! Costs: two owner computations per held item per pass (rendezvous: O(members)
//! each), and rebuilding the basis (a ring: members x virtual nodes).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::id::{Id, NodeInfo};
use crate::keyspace::Partitioner;
use crate::node::output::Output;
use crate::node::Node;
use crate::time::Time;
use crate::wire::{PutArgs, QueryMethod};

use super::OneHop;

/// How long after a membership change the pass runs: joins and departures that come
/// together (a cluster starting, a rack failing) cost one pass.
const HANDOFF_DELAY: Duration = Duration::from_secs(2);

/// Most hand-off puts sent per tick; the rest wait for the next ones.
const HANDOFF_BATCH: usize = 256;

/// The token of a hand-off put when no token of the owner is cached: owners take a
/// member's put whatever its token, and KRPC has no empty one.
const MEMBER_TOKEN: [u8; 6] = *b"member";

/// How soon the next tick comes while hand-offs are queued.
const HANDOFF_PACE: Duration = Duration::from_millis(50);

/// Sends of one hand-off put before it is given up, each with the query's own
/// retries: an owner that missed them all is likely gone, and failure detection
/// removes it meanwhile.
pub(super) const HANDOFF_ATTEMPTS: u8 = 3;

/// Most hand-off puts awaiting an answer; past it, puts go unwatched (sent once,
/// neither retried nor counted).
const MAX_WATCHED: usize = 65_536;

/// An item to put to a new owner.
#[derive(Clone, Copy, Debug)]
struct Move {
    key: Id,
    mutable: bool,
    to: NodeInfo,
    /// Sends so far.
    sent: u8,
}

impl Move {
    fn new((key, mutable, to): (Id, bool, NodeInfo)) -> Move {
        Move {
            key,
            mutable,
            to,
            sent: 0,
        }
    }
}

/// A node's hand-off state.
#[derive(Debug, Default)]
pub(super) struct Handoff {
    /// The members the last pass computed owners from; `None` before the first pass
    /// (a node that has just joined holds nothing to hand over).
    basis: Option<Box<dyn Partitioner>>,
    /// The member digest the basis was built from.
    basis_digest: [u8; 20],
    /// When the pass for the change seen last is due.
    due: Option<Time>,
    /// Items to send.
    queue: VecDeque<Move>,
    /// Puts sent and not yet answered, by transaction id.
    watched: HashMap<u32, Move>,
}

impl Handoff {
    /// Items waiting to be sent.
    pub(super) fn queued(&self) -> usize {
        self.queue.len()
    }
}

impl Node {
    /// The hand-off's share of the one-hop tick: notices a changed member set, runs
    /// the pass when due, sends a batch of the queue. Returns when it is next due.
    pub(super) fn onehop_handoff(&self, o: &OneHop, now: Time, out: &mut Output) -> Time {
        let digest = o.members.read().digest();
        let mut h = o.handoff.lock();
        if h.basis.is_none() {
            // The first basis is the member set the node starts serving with.
            if o.is_joined() {
                h.basis = Some(self.basis_of(o));
                h.basis_digest = digest;
            }
            return Time::NEVER;
        }
        if digest != h.basis_digest && h.due.is_none() {
            h.due = Some(now + HANDOFF_DELAY);
        }
        if h.due.is_some_and(|due| now >= due) {
            self.queue_moves(o, &mut h, digest, now);
        }
        let batch: Vec<_> = {
            let n = h.queue.len().min(HANDOFF_BATCH);
            h.queue.drain(..n).collect()
        };
        let next = match (h.due, h.queue.is_empty()) {
            (_, false) => now + HANDOFF_PACE,
            (Some(due), true) => due,
            (None, true) => Time::NEVER,
        };
        drop(h);
        for m in batch {
            self.hand_off(o, m, now, out);
        }
        next
    }

    /// The answer to a hand-off put, if `tid` was one (`acked`: a response; else an
    /// error or no answer): counted, or queued again while its owner is a member
    /// and sends are left. Returns whether `tid` was a hand-off put.
    pub(super) fn on_handoff_answer(&self, o: &OneHop, tid: u32, acked: bool) -> bool {
        let mut h = o.handoff.lock();
        let Some(m) = h.watched.remove(&tid) else {
            return false;
        };
        if h.watched.is_empty() {
            // A pass's burst is over: its table goes with it.
            h.watched.shrink_to_fit();
        }
        if acked {
            o.counters.handed_off.fetch_add(1, Ordering::Relaxed);
        } else if m.sent < HANDOFF_ATTEMPTS && o.members.read().contains(&m.to.id) {
            h.queue.push_back(m);
        } else {
            o.counters.handoff_failed.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Runs the pass against the basis and makes the current members the basis.
    fn queue_moves(&self, o: &OneHop, h: &mut Handoff, digest: [u8; 20], now: Time) {
        h.due = None;
        if let Some(old) = h.basis.take() {
            let moves = self.handoff_pass(o, old.as_ref(), now);
            h.queue.extend(moves.into_iter().map(Move::new));
        }
        h.basis = Some(self.basis_of(o));
        h.basis_digest = digest;
    }

    /// Before a clean departure: what the pending pass would send goes now, and each
    /// item this node owns goes to the member that owns it once this node is gone
    /// (the next in order of preference), so that a key whose other owners left
    /// too, or were not yet sent it, is not lost. Sent at once, not paced: the node
    /// is about to close its socket.
    pub(super) fn hand_off_before_leaving(&self, o: &OneHop, now: Time, out: &mut Output) {
        let pending: Vec<Move> = {
            let digest = o.members.read().digest();
            let mut h = o.handoff.lock();
            if h.basis.is_some() && digest != h.basis_digest {
                self.queue_moves(o, &mut h, digest, now);
            }
            h.queue.drain(..).collect()
        };
        let keys = self.store.item_keys(now);
        let moves: Vec<(Id, bool, NodeInfo)> = {
            let members = o.members.read();
            let r = o.config.replicas;
            keys.into_iter()
                .filter_map(|(key, mutable)| {
                    let owners = members
                        .owners_exact(&key, (r + 1).min(members.len()))
                        .ok()?;
                    let mine = owners.iter().take(r).any(|id| *id == self.id);
                    let next = *owners.get(r)?;
                    let addr = members.get(&next)?.addr;
                    mine.then(|| (key, mutable, NodeInfo::new(next, addr)))
                })
                .collect()
        };
        for m in pending.into_iter().chain(moves.into_iter().map(Move::new)) {
            self.hand_off(o, m, now, out);
        }
    }

    /// A partitioner of the current members, as the node's own one is configured.
    fn basis_of(&self, o: &OneHop) -> Box<dyn Partitioner> {
        let ids = o.members.read().ids();
        let mut basis = o
            .config
            .partitioner
            .build()
            .unwrap_or_else(|_| Box::new(crate::keyspace::Xor::new()));
        // The ids are a set already: a duplicate cannot occur.
        let _ = basis.add_all(&ids);
        basis
    }

    /// The items this node should send, and to whom: see the module docs.
    fn handoff_pass(
        &self,
        o: &OneHop,
        old: &dyn Partitioner,
        now: Time,
    ) -> Vec<(Id, bool, NodeInfo)> {
        let keys = self.store.item_keys(now);
        let members = o.members.read();
        let r = o.config.replicas;
        let mut before = Vec::new();
        let mut moves = Vec::new();
        for (key, mutable) in keys {
            let after = match members.owners_exact(&key, r.min(members.len())) {
                Ok(after) if old.owners_into(&key, r.min(old.len()), &mut before).is_ok() => after,
                _ => continue,
            };
            let sender = before
                .iter()
                .find(|id| members.contains(id))
                .copied()
                .unwrap_or(self.id);
            if sender != self.id {
                continue;
            }
            for id in after
                .iter()
                .filter(|id| **id != self.id && !before.contains(id))
            {
                if let Some(m) = members.get(id) {
                    moves.push((key, mutable, NodeInfo::new(*id, m.addr)));
                }
            }
        }
        moves
    }

    /// Puts the item of `m` to its owner and watches for the answer; nothing when
    /// the item is no longer held.
    fn hand_off(&self, o: &OneHop, mut m: Move, now: Time, out: &mut Output) {
        let Move {
            key, mutable, to, ..
        } = m;
        // The owner takes it from a member without a token; a cached one is sent
        // anyway, for an owner that has not heard of our join yet. KRPC has no empty
        // token: without one, a placeholder goes.
        let token: Box<[u8]> = o
            .tokens
            .lock()
            .get(&to.addr)
            .map_or_else(|| Box::from(&MEMBER_TOKEN[..]), |(t, _)| t.clone());
        let mut send = |args: PutArgs<'_>| {
            self.send_query_tid(to.addr, Some(to.id), None, QueryMethod::Put(args), now, out)
        };
        let tid = if mutable {
            let Some(item) = self.store.get_mutable(&key, now) else {
                return;
            };
            send(PutArgs {
                k: Some(&item.k),
                salt: Some(&item.salt[..]).filter(|s| !s.is_empty()),
                seq: Some(item.seq),
                sig: Some(&item.sig),
                target: Some(key),
                ..PutArgs::immutable(&token, &item.v)
            })
        } else {
            let Some(v) = self.store.get_immutable(&key, now) else {
                return;
            };
            send(PutArgs {
                target: Some(key),
                ..PutArgs::immutable(&token, &v)
            })
        };
        m.sent += 1;
        let mut h = o.handoff.lock();
        match tid {
            Some(tid) if h.watched.len() < MAX_WATCHED => {
                h.watched.insert(tid, m);
            }
            Some(_) => {}
            // The in-flight table is full: the put waits for a later tick, and counts
            // as a send so that a table full for good cannot keep it forever.
            None if m.sent < HANDOFF_ATTEMPTS => h.queue.push_back(m),
            None => {
                o.counters.handoff_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
