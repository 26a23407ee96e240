//! The transaction table: the queries this node sent and awaits answers to.
//!
//! Entry point: [`Node::send_query`] records a query under a fresh transaction id;
//! [`Node::take_pending`] matches an answer to it (same id, same address);
//! [`Node::expire_due`] sends it again after a timeout (with backoff) or gives up,
//! telling the routing table and the operation that sent it.
//!
//! Locks: one in-flight shard at a time. The lock order is an operation's shard,
//! then an in-flight shard, never the reverse.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use super::broadcast::HandOff;
use super::config::CLIENT_VERSION;
use super::ops::OpId;
use super::output::Output;
use super::Node;
use crate::id::{Id, NodeInfo};
use crate::routing::TimeoutOutcome;
use crate::time::Time;
use crate::wire::{Message, MessageKind, QueryMethod, Want};

/// A query this node sent and awaits an answer to.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) to: SocketAddr,
    /// The id we expect to answer; unknown for routers and pings by address.
    pub(super) id: Option<Id>,
    pub(super) op: Option<OpId>,
    pub(super) sent: Time,
    pub(super) deadline: Time,
    pub(super) tries: u8,
    /// The encoded query, kept to send it again.
    pub(super) datagram: Box<[u8]>,
}

impl Node {
    /// Encodes and sends a query, recording it in flight. Returns false when the
    /// in-flight table is full (the query is not sent).
    pub(super) fn send_query(
        &self,
        to: SocketAddr,
        id: Option<Id>,
        op: Option<OpId>,
        method: QueryMethod<'_>,
        now: Time,
        out: &mut Output,
    ) -> bool {
        self.send_query_tid(to, id, op, method, now, out).is_some()
    }

    /// [`Node::send_query`] returning the transaction id, for a caller that matches
    /// the answer itself; `None` when the in-flight table is full.
    pub(super) fn send_query_tid(
        &self,
        to: SocketAddr,
        id: Option<Id>,
        op: Option<OpId>,
        method: QueryMethod<'_>,
        now: Time,
        out: &mut Output,
    ) -> Option<u32> {
        let encode = |tid: &[u8], buf: &mut Vec<u8>| {
            let mut msg = Message {
                version: Some(&CLIENT_VERSION),
                read_only: self.config.read_only,
                ..Message::query(tid, self.id, method)
            };
            if self.routing6.is_some() {
                // BEP 32: a dual-stack node asks for nodes of both families.
                if let MessageKind::Query(q) = &mut msg.kind {
                    q.want = Want { n4: true, n6: true };
                }
            }
            msg.encode(buf);
        };
        self.send_encoded(to, id, op, true, now, out, encode)
    }

    /// Sends a query that `encode` writes for a transaction id, recording it in
    /// flight; without `resend` it is sent once and fails at its first timeout. The
    /// transaction id, or `None` when the in-flight table is full (nothing is sent).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_encoded(
        &self,
        to: SocketAddr,
        id: Option<Id>,
        op: Option<OpId>,
        resend: bool,
        now: Time,
        out: &mut Output,
        encode: impl FnOnce(&[u8], &mut Vec<u8>),
    ) -> Option<u32> {
        if self.in_flight_len.load(Ordering::Relaxed) >= self.config.max_in_flight {
            self.counters.in_flight_full.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let tid = self.next_tid.fetch_add(1, Ordering::Relaxed);
        let tid_bytes = tid.to_be_bytes();
        self.send_datagram(out, to, |buf| encode(&tid_bytes, buf));
        // Kept for a retry: one allocation of the exact size.
        let datagram = Box::<[u8]>::from(out.last_datagram());
        let deadline = now + self.rtt.timeout();
        self.count_sent(1, datagram.len());
        self.in_flight.insert(
            tid,
            Pending {
                to,
                id,
                op,
                sent: now,
                deadline,
                tries: if resend { 0 } else { self.config.max_retries },
                datagram,
            },
        );
        // SeqCst: see `Node::tick`.
        self.in_flight_len.fetch_add(1, Ordering::SeqCst);
        self.want_tick_at(deadline);
        Some(tid)
    }

    /// Removes the in-flight query `tid` if it was sent to `from`.
    pub(super) fn take_pending(&self, from: SocketAddr, tid: &[u8]) -> Option<Pending> {
        let key = <[u8; 4]>::try_from(tid).ok().map(u32::from_be_bytes);
        let removed = key.and_then(|key| self.in_flight.remove_if(&key, |_, p| p.to == from));
        match removed {
            Some((_, pending)) => {
                self.in_flight_len.fetch_sub(1, Ordering::Relaxed);
                Some(pending)
            }
            None => {
                self.counters.unmatched.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Sends again or gives up every query whose deadline has passed; returns the
    /// earliest deadline still ahead.
    pub(super) fn expire_due(&self, now: Time, out: &mut Output) -> Time {
        let mut earliest = Time::NEVER;
        let mut expired = Vec::new();
        for entry in self.in_flight.iter() {
            if entry.deadline <= now {
                expired.push(*entry.key());
            } else {
                earliest = earliest.min(entry.deadline);
            }
        }
        // Map order depends on the hasher's random keys: sort, so that a seeded
        // run (the simulator) sends the same datagrams in the same order.
        expired.sort_unstable();
        for tid in expired {
            self.expire(tid, now, out, &mut earliest);
        }
        earliest
    }

    fn expire(&self, tid: u32, now: Time, out: &mut Output, earliest: &mut Time) {
        // A query whose operation was cancelled is not worth sending again. Checked
        // before the in-flight entry is locked: the lock order is operation, then
        // in-flight, never the reverse.
        let op = self.in_flight.get(&tid).and_then(|p| p.op);
        let abandoned = op.is_some_and(|op| !self.ops.contains_key(&op));
        let retry = {
            let Some(mut pending) = self.in_flight.get_mut(&tid) else {
                return;
            };
            if pending.deadline > now {
                return;
            }
            if pending.tries < self.config.max_retries && !abandoned {
                pending.tries += 1;
                // Back off: each retry waits twice as long as the one before.
                let wait = self.rtt.timeout() * (1u32 << pending.tries.min(4));
                pending.deadline = now + wait;
                *earliest = (*earliest).min(pending.deadline);
                out.send(pending.to, |buf| buf.extend_from_slice(&pending.datagram));
                Some(pending.datagram.len())
            } else {
                None
            }
        };
        if let Some(len) = retry {
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            self.count_sent(1, len);
            return;
        }
        let Some((_, pending)) = self.in_flight.remove(&tid) else {
            return;
        };
        self.in_flight_len.fetch_sub(1, Ordering::Relaxed);
        self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
        if let Some(id) = pending.id {
            self.onehop_missed(id, now, out);
            if let TimeoutOutcome::Ping(candidate) =
                self.table_for(&pending.to).on_timeout(&id, now)
            {
                self.send_query(
                    candidate.addr,
                    Some(candidate.id),
                    None,
                    QueryMethod::Ping,
                    now,
                    out,
                );
            }
        }
        if let Some(op) = pending.op {
            let queried = NodeInfo::new(pending.id.unwrap_or_default(), pending.to);
            self.advance_on_answer(op, &pending, queried, None, None, now, out);
        } else {
            self.on_onehop_answer(tid, pending.to, None, None, now, out);
            self.on_hand_off_answer(tid, HandOff::TimedOut, now, out);
            self.on_subscribe_answer(tid, None, now, out);
        }
    }
}
