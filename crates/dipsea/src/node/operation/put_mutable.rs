//! `put_mutable`: publishes a BEP 44 mutable item. A `get` lookup of the item's
//! target finds the highest verified sequence number on the network and the k
//! closest nodes' write tokens; the value is then signed with the next sequence
//! number (or the caller's) and stored on them, and the signed item is kept for
//! re-publishing. A re-publish ([`Request::RepublishMutable`]) stores the signed item
//! as it is.

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
            let search = MutableSearch::new(keypair.public_key(), &options.salt, None);
            operation.found.mutable = Some(Box::new(search));
        }
        node.begin_lookup(request_target(&operation.request), operation)
    }

    fn lookup_method(&self, target: Id, found: &Found) -> QueryMethod<'static> {
        // With the best version so far as `seq`, nodes that hold it (or an older
        // one) answer with only their `seq`.
        let seq = found.mutable.as_ref().and_then(|m| m.query_seq());
        QueryMethod::Get { target, seq }
    }

    fn wants_tokens(&self) -> bool {
        true
    }

    fn on_lookup_answer(&self, found: &mut Found, _lookup: &mut Lookup, response: &Response<'_>) {
        if let Some(search) = found.mutable.as_mut() {
            search.on_response(response);
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
