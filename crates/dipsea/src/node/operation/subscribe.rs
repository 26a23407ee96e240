//! `subscribe`: a lookup of a mutable item's target, then `dipsea_sub` to the closest
//! nodes that speak the extension (see `node/subscribe.rs`).

use super::{request_target, Begin, Kind, Operation, Phase};
use crate::node::ops::{OpError, OpId, Outcome};
use crate::node::output::Output;
use crate::node::Node;
use crate::time::Time;

/// [`Request::Subscribe`](crate::node::Request::Subscribe).
pub(super) struct Subscribe;

impl Kind for Subscribe {
    fn begin(
        &self,
        node: &Node,
        _op: OpId,
        operation: &mut Operation,
        now: Time,
        _out: &mut Output,
    ) -> Begin {
        let target = request_target(&operation.request);
        let begin = node.begin_lookup(target, operation);
        if let Begin::Done(_) = begin {
            node.subscribe_lookup_failed(&target, now);
        }
        begin
    }

    fn after_lookup(
        &self,
        node: &Node,
        _op: OpId,
        operation: &mut Operation,
        now: Time,
        out: &mut Output,
    ) -> Option<Result<Outcome, OpError>> {
        let target = request_target(&operation.request);
        let Phase::Lookup(lookup) = &operation.phase else {
            return None;
        };
        let closest: Vec<_> = lookup.closest_answered().map(|(n, _)| n).collect();
        if closest.is_empty() {
            node.subscribe_lookup_failed(&target, now);
            return Some(Err(OpError::Timeout));
        }
        Some(Ok(Outcome::Nodes(
            node.subscribe_found(target, &closest, now, out),
        )))
    }
}
