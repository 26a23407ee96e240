//! The store phase of a put or announce: the store query to each of the closest
//! nodes that gave a write token, then the count of their acknowledgements.

use super::{Operation, Phase};
use crate::id::{Id, NodeInfo};
use crate::node::ops::{OpError, OpId, Outcome};
use crate::node::output::Output;
use crate::node::Node;
use crate::time::Time;
use crate::wire::QueryMethod;

impl Node {
    /// Sends the store queries of a put or announce to the nodes that gave a token;
    /// returns how many were sent.
    pub(super) fn store_on<'a>(
        &self,
        op: OpId,
        targets: &'a [(NodeInfo, Box<[u8]>)],
        now: Time,
        out: &mut Output,
        method: impl Fn(&'a [u8]) -> QueryMethod<'a>,
    ) -> usize {
        let mut sent = 0;
        for (node, token) in targets {
            if self.send_query(node.addr, Some(node.id), Some(op), method(token), now, out) {
                sent += 1;
            }
        }
        sent
    }
}

/// Moves a put or announce whose lookup found `answered` nodes, `sent` of which
/// were sent the store query, into the store phase, or ends it.
pub(super) fn begin(
    operation: &mut Operation,
    answered: usize,
    sent: usize,
) -> Option<Result<Outcome, OpError>> {
    if answered == 0 {
        return Some(Err(OpError::Timeout));
    }
    if sent == 0 {
        return Some(Err(OpError::NotStored { asked: 0 }));
    }
    operation.sent += sent as u32;
    operation.phase = Phase::Storing {
        outstanding: sent,
        acks: 0,
        asked: sent,
    };
    None
}

/// The phase's result once every store query is answered or timed out.
pub(super) fn drive(operation: &Operation) -> Option<Result<Outcome, OpError>> {
    let Phase::Storing {
        outstanding,
        acks,
        asked,
    } = operation.phase
    else {
        return None;
    };
    if outstanding > 0 {
        return None;
    }
    Some(if acks > 0 {
        super::kind_of(&operation.request)
            .stored(&operation.request, acks)
            .ok_or(OpError::NotStored { asked })
    } else {
        Err(OpError::NotStored { asked })
    })
}

/// An answer (`acked`) or an error reply or timeout to one store query.
pub(super) fn on_answer(phase: &mut Phase, acked: bool) {
    if let Phase::Storing {
        outstanding, acks, ..
    } = phase
    {
        *outstanding = outstanding.saturating_sub(1);
        if acked {
            *acks += 1;
        }
    }
}

/// The end of a put's or announce's lookup: how many of the closest nodes answered,
/// the target, and the nodes that gave a write token with their tokens.
pub(super) fn token_holders(
    operation: &mut Operation,
) -> Option<(usize, Id, Vec<(NodeInfo, Box<[u8]>)>)> {
    let Phase::Lookup(lookup) = &mut operation.phase else {
        return None;
    };
    let answered = lookup.closest_answered().count();
    Some((answered, lookup.target(), lookup.take_tokens()))
}
