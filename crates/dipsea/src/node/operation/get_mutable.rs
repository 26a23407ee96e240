//! `get_mutable`: the newest verified version of a BEP 44 mutable item, a `get`
//! lookup that sends the best `seq` found so far and stops once two nodes agree and
//! no closer node is left unasked (see [`MutableSearch::settled`]).

use super::mutable::MutableSearch;
use super::{answered, request_target, Begin, Found, Kind, Operation};
use crate::id::Id;
use crate::lookup::Lookup;
use crate::node::ops::{OpError, OpId, Outcome, Request};
use crate::node::output::Output;
use crate::node::Node;
use crate::store::MAX_SALT_LEN;
use crate::time::Time;
use crate::wire::{QueryMethod, Response};

/// [`Request::GetMutable`].
pub(super) struct GetMutable;

impl Kind for GetMutable {
    fn begin(
        &self,
        node: &Node,
        _op: OpId,
        operation: &mut Operation,
        _now: Time,
        _out: &mut Output,
    ) -> Begin {
        if let Request::GetMutable {
            public_key,
            salt,
            min_seq,
        } = &operation.request
        {
            if salt.len() > MAX_SALT_LEN {
                return Begin::Done(Err(OpError::BadInput(format!(
                    "a salt is at most {MAX_SALT_LEN} bytes, got {}",
                    salt.len()
                ))));
            }
            let search = MutableSearch::new(*public_key, salt, *min_seq);
            operation.found.mutable = Some(Box::new(search));
        }
        node.begin_lookup(request_target(&operation.request), operation)
    }

    fn lookup_method(&self, target: Id, found: &Found) -> QueryMethod<'static> {
        let seq = found.mutable.as_ref().and_then(|m| m.query_seq());
        QueryMethod::Get { target, seq }
    }

    fn on_lookup_answer(
        &self,
        node: &Node,
        found: &mut Found,
        lookup: &mut Lookup,
        response: &Response<'_>,
    ) {
        if let Some(search) = found.mutable.as_mut() {
            search.on_response(response, &node.signatures);
            if search.settled(lookup) {
                lookup.stop();
            }
        }
    }

    fn after_lookup(
        &self,
        _node: &Node,
        _op: OpId,
        operation: &mut Operation,
        _now: Time,
        _out: &mut Output,
    ) -> Option<Result<Outcome, OpError>> {
        let best = operation.found.mutable.as_mut().and_then(|m| m.take_best());
        if answered(operation) == 0 && best.is_none() {
            return Some(Err(OpError::Timeout));
        }
        Some(Ok(Outcome::Mutable(best.map(Box::new))))
    }
}
