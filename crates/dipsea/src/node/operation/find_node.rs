//! `find_node`: the k closest nodes to a target (BEP 5), a plain lookup.

use super::{answered, Kind, Operation, Phase};
use crate::node::ops::{OpError, OpId, Outcome};
use crate::node::output::Output;
use crate::node::Node;
use crate::time::Time;

/// [`Request::FindNode`](crate::node::Request::FindNode).
pub(super) struct FindNode;

impl Kind for FindNode {
    fn after_lookup(
        &self,
        _node: &Node,
        _op: OpId,
        operation: &mut Operation,
        _now: Time,
        _out: &mut Output,
    ) -> Option<Result<Outcome, OpError>> {
        let Phase::Lookup(lookup) = &operation.phase else {
            return None;
        };
        if answered(operation) == 0 {
            return Some(Err(OpError::Timeout));
        }
        Some(Ok(Outcome::Nodes(
            lookup.closest_answered().map(|(n, _)| n).collect(),
        )))
    }
}
