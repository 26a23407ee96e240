//! `put_mutable`: publishes a BEP 44 mutable item. One `get` lookup of the item's
//! target finds the k closest nodes' write tokens and, when the caller gives no
//! sequence number, the highest verified one on the network; the value is then
//! signed with the next sequence number (or the caller's) and stored on them, and
//! the signed item is kept for re-publishing. With the caller's sequence number the
//! lookup reads no item (no signature checks) and sends that `seq`, so nodes holding
//! it or an older version answer short. A re-publish ([`Request::RepublishMutable`])
//! stores the signed item as it is, the same way.

use super::mutable::MutableSearch;
use super::put::check_value;
use super::{request_target, storing, Begin, Found, Kind, Operation, Phase};
use crate::id::Id;
use crate::lookup::Lookup;
use crate::node::ops::{MutableStored, OpError, OpId, Outcome, Request};
use crate::node::output::Output;
use crate::node::Node;
use crate::store::{MutableItem, MAX_SALT_LEN};
use crate::time::Time;
use crate::wire::{PutArgs, QueryMethod, Response};

/// [`Request::PutMutable`] and [`Request::RepublishMutable`].
pub(super) struct PutMutable;

impl Kind for PutMutable {
    fn begin(
        &self,
        node: &Node,
        _op: OpId,
        operation: &mut Operation,
        _now: Time,
        _out: &mut Output,
    ) -> Begin {
        if let Request::PutMutable {
            keypair,
            v,
            options,
        } = &operation.request
        {
            if let Err(reason) = check_value(v) {
                return Begin::Done(Err(OpError::BadInput(reason)));
            }
            if options.salt.len() > MAX_SALT_LEN {
                return Begin::Done(Err(OpError::BadInput(format!(
                    "a salt is at most {MAX_SALT_LEN} bytes, got {}",
                    options.salt.len()
                ))));
            }
            match options.seq {
                // The caller's seq: what the network holds does not change it, so
                // answers are not read (no signature checks), and nodes holding
                // that version or an older one answer short.
                Some(seq) => operation.found.signed_seq = Some(seq),
                None => {
                    let search = MutableSearch::new(keypair.public_key(), &options.salt, None);
                    operation.found.mutable = Some(Box::new(search));
                }
            }
        }
        if let Request::RepublishMutable(item) = &operation.request {
            operation.found.signed_seq = Some(item.seq);
        }
        node.begin_lookup(request_target(&operation.request), operation)
    }

    fn lookup_method(&self, target: Id, found: &Found) -> QueryMethod<'static> {
        // With the best version so far (or the one to store) as `seq`, nodes that
        // hold it or an older one answer with only their `seq`.
        let seq = match &found.mutable {
            Some(search) => search.query_seq(),
            None => found.signed_seq,
        };
        QueryMethod::Get { target, seq }
    }

    fn wants_tokens(&self) -> bool {
        true
    }

    fn on_lookup_answer(
        &self,
        node: &Node,
        found: &mut Found,
        _lookup: &mut Lookup,
        response: &Response<'_>,
    ) {
        if let Some(search) = found.mutable.as_mut() {
            search.on_response(response, &node.signatures);
        }
    }

    fn after_lookup(
        &self,
        node: &Node,
        op: OpId,
        operation: &mut Operation,
        now: Time,
        out: &mut Output,
    ) -> Option<Result<Outcome, OpError>> {
        let Phase::Lookup(lookup) = &mut operation.phase else {
            return None;
        };
        let answered = lookup.closest_answered().count();
        let target = lookup.target();
        let targets = lookup.take_tokens();
        let (item, cas) = match &operation.request {
            Request::PutMutable {
                keypair,
                v,
                options,
            } => {
                let next = operation.found.mutable.as_ref().map_or(1, |m| m.next_seq());
                let seq = options.seq.unwrap_or(next);
                let item = MutableItem {
                    k: keypair.public_key(),
                    salt: options.salt.as_slice().into(),
                    seq,
                    sig: keypair.sign(&options.salt, seq, v),
                    v: v.as_slice().into(),
                };
                node.published_mutable.lock().insert(target, item.clone());
                (item, options.cas)
            }
            Request::RepublishMutable(item) => ((**item).clone(), None),
            _ => return None,
        };
        let sent = node.store_on(op, &targets, now, out, |token| {
            QueryMethod::Put(PutArgs {
                k: Some(&item.k),
                salt: Some(&item.salt[..]).filter(|s| !s.is_empty()),
                seq: Some(item.seq),
                cas,
                sig: Some(&item.sig),
                target: Some(target),
                ..PutArgs::immutable(token, &item.v)
            })
        });
        operation.found.signed_seq = Some(item.seq);
        storing::begin(operation, answered, sent)
    }

    fn stored(&self, request: &Request, found: &Found, acks: usize) -> Option<Outcome> {
        Some(Outcome::StoredMutable(MutableStored {
            target: request_target(request),
            seq: found.signed_seq?,
            stored: acks,
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::id::{Id, NodeInfo};
    use crate::keypair::Keypair;
    use crate::node::test_support::addr;
    use crate::node::{MutablePut, Node, NodeConfig, Output, Request};
    use crate::rpc::signature::thread_checks;
    use crate::time::Time;
    use crate::wire::bencode::encode_bytes;
    use crate::wire::{self, Message, MessageKind, QueryMethod, Response};

    /// Starts a put of `keypair`'s item with `seq` on a node that knows one
    /// contact, answers its first `get` with the item at seq 7 (signed), and
    /// returns the `seq` that query carried and the signature checks the answer
    /// cost on this thread.
    fn first_query_and_checks(seq: Option<i64>) -> (Option<i64>, u64) {
        let keypair = Keypair::from_seed(&[9; 32]);
        let node = Node::new(Id::random(), NodeConfig::default(), Time::ZERO);
        let contact = NodeInfo::new(Id::random(), addr(2000));
        let _ = node.routing().on_response(contact, Time::ZERO);
        let mut out = Output::new();
        let request = Request::PutMutable {
            keypair: Box::new(keypair.clone()),
            v: encode_bytes(b"new"),
            options: MutablePut {
                seq,
                ..MutablePut::default()
            },
        };
        node.start(node.next_op_id(), request, Time::ZERO, &mut out);
        let (to, datagram) = out.datagrams().next().expect("a query");
        let query = wire::decode(datagram).expect("decodes");
        let MessageKind::Query(q) = &query.kind else {
            panic!("not a query")
        };
        let QueryMethod::Get { seq: sent, .. } = q.method else {
            panic!("not a get")
        };
        let (k, v) = (keypair.public_key(), encode_bytes(b"held"));
        let sig = keypair.sign(b"", 7, &v);
        let reply = Message {
            tid: query.tid,
            version: None,
            ip: None,
            read_only: false,
            network: None,
            kind: MessageKind::Response(Response {
                id: contact.id,
                k: Some(&k),
                sig: Some(&sig),
                seq: Some(7),
                v: Some(&v),
                token: Some(b"tok"),
                ..Response::default()
            }),
        };
        let mut buf = Vec::new();
        reply.encode(&mut buf);
        let before = thread_checks();
        let mut out = Output::new();
        node.handle_datagram(to, &buf, Time::ZERO, &mut out);
        (sent, thread_checks() - before)
    }

    #[test]
    fn an_explicit_seq_is_sent_and_costs_no_check() {
        assert_eq!(
            first_query_and_checks(None),
            (None, 1),
            "auto: reads the item"
        );
        assert_eq!(first_query_and_checks(Some(12)), (Some(12), 0));
    }
}
