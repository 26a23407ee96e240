//! Datagram dispatch: what the node does with each datagram it receives.
//!
//! Entry point: [`Node::handle_datagram`]. A query passes the rate limiter, offers
//! its sender to the routing table and is answered by [`rpc::answer`]; a response
//! or KRPC error is matched to its query in flight (`transactions`) and handed to
//! the operation that sent it (`operation`). A new KRPC message kind is a decoder in
//! `wire`, an answer function in `rpc::answer` and an arm here.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use super::broadcast::HandOff;
use super::config::CLIENT_VERSION;
use super::limits::Limited;
use super::output::Output;
use super::Node;
use crate::id::NodeInfo;
use crate::routing::InsertOutcome;
use crate::rpc::{self, Answered};
use crate::time::Time;
use crate::wire::{self, Message, MessageKind, Query, QueryMethod, Response};

impl Node {
    /// Handles one datagram from `from`: answers queries, advances the operations
    /// that answers belong to. Never panics, whatever the bytes.
    ///
    /// Queries pass the rate limiter ([`limits`](super::limits)) before anything is
    /// done for them; one over the limit costs a zero-copy decode and a counter,
    /// nothing more.
    pub fn handle_datagram(&self, from: SocketAddr, data: &[u8], now: Time, out: &mut Output) {
        self.counters.packets_in.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_in
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        if data.len() > self.config.max_datagram {
            self.counters.oversized.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let msg = match wire::decode(data) {
            Ok(msg) => msg,
            Err(error) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                if !self.config.read_only {
                    let tid = wire::query_tid(data);
                    if let Some(tid) = tid.filter(|_| self.admit(from, now)) {
                        let reason = error.to_string();
                        self.reply_error(
                            from,
                            tid,
                            wire::error_code::PROTOCOL,
                            reason.as_bytes(),
                            out,
                        );
                    }
                }
                return;
            }
        };
        if !self.same_network(msg.network) {
            return;
        }
        match &msg.kind {
            MessageKind::Query(query) => self.on_query(from, data, &msg, query, now, out),
            MessageKind::Response(response) => {
                self.on_response(from, data, &msg, response, now, out)
            }
            MessageKind::Error(_) => self.on_error(from, &msg, now, out),
        }
    }

    /// A query: counted, rate limited, its sender offered to the routing table, then
    /// answered by [`rpc::answer`].
    fn on_query(
        &self,
        from: SocketAddr,
        data: &[u8],
        msg: &Message<'_>,
        query: &Query<'_>,
        now: Time,
        out: &mut Output,
    ) {
        self.query_counter(&query.method)
            .fetch_add(1, Ordering::Relaxed);
        if self.config.read_only {
            // BEP 43: a read-only node answers no queries.
            return;
        }
        if !self.admit(from, now) {
            return;
        }
        if query.id != self.id {
            let outcome =
                self.table_for(&from)
                    .on_query(NodeInfo::new(query.id, from), now, msg.read_only);
            self.act_on_insert(outcome, now, out);
            self.learn_speaker(query.id, msg.version);
            self.onehop_heard(query.id, from, now);
        }
        if let QueryMethod::Unknown {
            method: wire::push::BROADCAST_METHOD,
            ..
        } = query.method
        {
            let delivered = out.events.len();
            self.on_broadcast(from, data, now, out);
            self.onehop_events(delivered, now, out);
            return;
        }
        if self.on_onehop_query(from, msg, query, now, out) {
            return;
        }
        if let QueryMethod::Unknown { method, .. } = query.method {
            if self.on_subscription_query(from, method, data, now, out) {
                return;
            }
        }
        let answered = self.answer(from, msg, query, now, out);
        if let Answered::Refused(reason) = answered {
            self.counters
                .refusal(reason)
                .fetch_add(1, Ordering::Relaxed);
        } else if let QueryMethod::Put(wire::PutArgs { k: Some(k), .. }) = &query.method {
            let salt = match &query.method {
                QueryMethod::Put(args) => args.salt.unwrap_or_default(),
                _ => &[],
            };
            self.notify_subscribers(&crate::keypair::mutable_target(k, salt), now, out);
        } else if let QueryMethod::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            ..
        } = query.method
        {
            let port = if implied_port { from.port() } else { port };
            let peer = SocketAddr::new(from.ip(), port);
            self.notify_peer_subscribers(&info_hash, peer, now, out);
        }
    }

    /// Writes the reply to `query` into `out` and counts it sent.
    fn answer(
        &self,
        from: SocketAddr,
        msg: &Message<'_>,
        query: &Query<'_>,
        now: Time,
        out: &mut Output,
    ) -> Answered {
        let ctx = rpc::Context {
            own_id: self.id,
            routing: &self.routing,
            routing6: self.routing6.as_deref(),
            store: &self.store,
            tokens: &self.tokens,
            version: &CLIENT_VERSION,
            samples: &self.samples,
            member_writer: matches!(query.method, QueryMethod::Put(_))
                && self.is_member_at(query.id, from),
        };
        let mut answered = Answered::Response;
        let before = out.datagram_count();
        self.send_datagram(out, from, |buf| {
            answered = rpc::answer(&ctx, from, msg, query, now, buf);
        });
        let (sent, bytes) = (out.datagram_count() - before, out.last_datagram().len());
        self.count_sent(sent, bytes);
        answered
    }

    /// The counter of queries of this method.
    fn query_counter(&self, method: &QueryMethod<'_>) -> &AtomicU64 {
        let q = &self.counters.queries_in;
        match method {
            QueryMethod::Ping => &q.ping,
            QueryMethod::FindNode { .. } => &q.find_node,
            QueryMethod::GetPeers { .. } => &q.get_peers,
            QueryMethod::AnnouncePeer { .. } => &q.announce_peer,
            QueryMethod::Get { .. } => &q.get,
            QueryMethod::Put(_) => &q.put,
            QueryMethod::SampleInfohashes { .. } => &q.sample_infohashes,
            QueryMethod::Unknown { .. } => &q.other,
        }
    }

    /// Whether a query from `from` may be answered now (see [`limits`](super::limits)); counts the
    /// refusal if not.
    fn admit(&self, from: SocketAddr, now: Time) -> bool {
        let Some(limiter) = &self.limiter else {
            return true;
        };
        match limiter.admit(from.ip(), now) {
            Ok(()) => true,
            Err(limited) => {
                let counter = match limited {
                    Limited::PerIp => &self.counters.rate_limited_ip,
                    Limited::Global => &self.counters.rate_limited_global,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    fn on_response(
        &self,
        from: SocketAddr,
        data: &[u8],
        msg: &Message<'_>,
        response: &Response<'_>,
        now: Time,
        out: &mut Output,
    ) {
        let Some(pending) = self.take_pending(from, msg.tid) else {
            return;
        };
        self.counters.responses_in.fetch_add(1, Ordering::Relaxed);
        if let Some(reported) = msg.ip {
            self.vote_external_ip(from, reported, out);
        }
        if pending.tries == 0 {
            // Karn's rule: a retried query's answer says nothing certain about RTT.
            self.rtt.sample(now.since(pending.sent));
        }
        let responder = NodeInfo::new(response.id, from);
        if response.id != self.id && !msg.read_only {
            let outcome = self.table_for(&from).on_response(responder, now);
            self.act_on_insert(outcome, now, out);
            self.learn_speaker(response.id, msg.version);
            self.onehop_heard(response.id, from, now);
            let heard = response
                .nodes
                .iter()
                .flat_map(|n| n.iter())
                .chain(response.nodes6.iter().flat_map(|n| n.iter()));
            for node in heard {
                let outcome = self.table_for(&node.addr).on_heard(node, now);
                self.act_on_insert(outcome, now, out);
            }
        }
        if let Some(op) = pending.op {
            self.onehop_token(from, response.token, now);
            self.advance_on_answer(op, &pending, responder, Some(response), None, now, out);
        } else {
            self.on_onehop_answer(tid_key(msg.tid), from, msg.ip, Some(response), now, out);
            self.on_hand_off_answer(tid_key(msg.tid), HandOff::Acked, now, out);
            self.on_subscribe_answer(tid_key(msg.tid), Some((data, response)), now, out);
        }
    }

    fn on_error(&self, from: SocketAddr, msg: &Message<'_>, now: Time, out: &mut Output) {
        let Some(pending) = self.take_pending(from, msg.tid) else {
            return;
        };
        self.counters.errors_in.fetch_add(1, Ordering::Relaxed);
        if let Some(op) = pending.op {
            let queried = NodeInfo::new(pending.id.unwrap_or_default(), pending.to);
            let code = match &msg.kind {
                MessageKind::Error(e) => Some(e.code),
                _ => None,
            };
            self.advance_on_answer(op, &pending, queried, None, code, now, out);
        } else {
            self.on_onehop_answer(tid_key(msg.tid), from, None, None, now, out);
            self.on_hand_off_answer(tid_key(msg.tid), HandOff::Refused, now, out);
            self.on_subscribe_answer(tid_key(msg.tid), None, now, out);
        }
    }

    /// Pings the contact the routing table wants checked before it evicts it.
    pub(super) fn act_on_insert(&self, outcome: InsertOutcome, now: Time, out: &mut Output) {
        if let InsertOutcome::Ping(contact) = outcome {
            self.send_query(
                contact.addr,
                Some(contact.id),
                None,
                QueryMethod::Ping,
                now,
                out,
            );
        }
    }

    pub(super) fn reply_error(
        &self,
        to: SocketAddr,
        tid: &[u8],
        code: i64,
        message: &[u8],
        out: &mut Output,
    ) {
        let msg = Message {
            tid,
            version: Some(&CLIENT_VERSION),
            ip: None,
            read_only: false,
            network: None,
            kind: MessageKind::Error(wire::KrpcError { code, message }),
        };
        self.send_datagram(out, to, |buf| msg.encode(buf));
        self.count_sent(1, out.last_datagram().len());
    }
}

/// The in-flight key of a transaction id (ours are 4 bytes; others match nothing).
fn tid_key(tid: &[u8]) -> u32 {
    <[u8; 4]>::try_from(tid).map_or(u32::MAX, u32::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Id;
    use crate::node::test_support::{addr, node_with_router, ping_from, replies};
    use crate::wire::PutArgs;

    #[test]
    fn queries_over_the_per_ip_rate_are_dropped_and_counted() {
        let node = node_with_router(addr(9));
        let limits = node.config().rate_limit.clone();
        let mut out = Output::new();
        let busy = SocketAddr::from(([203, 0, 113, 7], 6881));
        let ping = ping_from(Id::sha1(b"busy"), b"aa");
        for _ in 0..1_000 {
            node.handle_datagram(busy, &ping, Time::ZERO, &mut out);
        }
        let answered = replies(&out).len();
        assert_eq!(answered, limits.per_ip_burst as usize);
        let stats = node.stats();
        assert_eq!(stats.rate_limited_ip, 1_000 - answered as u64);
        assert_eq!(stats.queries_in.ping, 1_000);
        // Another source is answered; so is this one once its bucket refills.
        out.clear();
        let other = SocketAddr::from(([198, 51, 100, 1], 6881));
        node.handle_datagram(other, &ping, Time::ZERO, &mut out);
        node.handle_datagram(busy, &ping, Time::from_millis(1_000), &mut out);
        assert_eq!(replies(&out).len(), 2);
        // Malformed queries from the busy source get no error reply while it is
        // over its rate.
        out.clear();
        for _ in 0..1_000 {
            node.handle_datagram(
                busy,
                b"d1:t2:aa1:y1:q1:q4:pinge",
                Time::from_millis(1_000),
                &mut out,
            );
        }
        // A second's refill, less the ping above.
        assert_eq!(replies(&out).len(), limits.per_ip_rate as usize - 1);
        assert_eq!(node.stats().malformed, 1_000);
    }

    #[test]
    fn oversized_datagrams_are_dropped_unread() {
        let node = node_with_router(addr(9));
        let mut out = Output::new();
        let big = vec![b'x'; node.config().max_datagram + 1];
        node.handle_datagram(addr(7), &big, Time::ZERO, &mut out);
        assert_eq!(out.datagram_count(), 0);
        let stats = node.stats();
        assert_eq!((stats.oversized, stats.malformed), (1, 0));
    }

    #[test]
    fn a_put_without_a_valid_token_is_refused_and_counted() {
        let node = node_with_router(addr(9));
        let mut out = Output::new();
        let v = b"5:hello";
        let msg = Message::query(
            b"pp",
            Id::sha1(b"spoofer"),
            QueryMethod::Put(PutArgs::immutable(b"forged", v)),
        );
        let mut datagram = Vec::new();
        msg.encode(&mut datagram);
        node.handle_datagram(addr(7), &datagram, Time::ZERO, &mut out);
        let replies = replies(&out);
        let [MessageKind::Error(e)] = replies.as_slice() else {
            panic!("one error reply expected, got {replies:?}")
        };
        assert_eq!(e.code, wire::error_code::PROTOCOL);
        assert_eq!(node.stats().bad_token, 1);
        assert_eq!(node.store().stats().items, 0);
        assert!(node
            .store()
            .get_immutable(&Id::sha1(v), Time::ZERO)
            .is_none());
    }
}
