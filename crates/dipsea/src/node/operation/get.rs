//! `get`: a BEP 44 immutable item by key, a lookup that stops at the first value
//! that hashes to the key.

use super::{answered, request_target, Begin, Found, Kind, Operation};
use crate::id::Id;
use crate::lookup::Lookup;
use crate::node::ops::{OpError, OpId, Outcome};
use crate::node::output::Output;
use crate::node::Node;
use crate::time::Time;
use crate::wire::{QueryMethod, Response};

/// [`Request::Get`](crate::node::Request::Get).
pub(super) struct Get;

impl Kind for Get {
    fn begin(
        &self,
        node: &Node,
        _op: OpId,
        operation: &mut Operation,
        now: Time,
        _out: &mut Output,
    ) -> Begin {
        let target = request_target(&operation.request);
        if let Some(v) = node.store.get_immutable(&target, now) {
            // Held here already (this node is among the closest): no lookup.
            return Begin::Done(Ok(Outcome::Value(Some(v.to_vec()))));
        }
        node.begin_lookup(target, operation)
    }

    fn lookup_method(&self, target: Id, _found: &Found) -> QueryMethod<'static> {
        QueryMethod::Get { target, seq: None }
    }

    fn on_lookup_answer(
        &self,
        _node: &Node,
        found: &mut Found,
        lookup: &mut Lookup,
        response: &Response<'_>,
    ) {
        if let Some(v) = response.v {
            if Id::sha1(v) == lookup.target() && found.value.is_none() {
                found.value = Some(v.to_vec());
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
        if answered(operation) == 0 && operation.found.value.is_none() {
            return Some(Err(OpError::Timeout));
        }
        Some(Ok(Outcome::Value(operation.found.value.take())))
    }
}
