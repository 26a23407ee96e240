//! `ping`: one query to one address, no lookup.

use super::{Begin, Kind, Operation, Phase};
use crate::node::ops::{OpError, OpId, Outcome, Request};
use crate::node::output::Output;
use crate::node::Node;
use crate::time::Time;
use crate::wire::{QueryMethod, Response};

/// [`Request::Ping`].
pub(super) struct Ping;

impl Kind for Ping {
    fn begin(
        &self,
        node: &Node,
        op: OpId,
        operation: &mut Operation,
        now: Time,
        out: &mut Output,
    ) -> Begin {
        let sent = match operation.request {
            Request::Ping(addr) => {
                node.send_query(addr, None, Some(op), QueryMethod::Ping, now, out)
            }
            _ => false,
        };
        if !sent {
            let (what, limit) = ("queries awaiting an answer", node.config.max_in_flight);
            return Begin::Done(Err(OpError::Busy { what, limit }));
        }
        operation.sent = 1;
        operation.phase = Phase::Ping;
        Begin::Run
    }

    fn after_lookup(
        &self,
        _node: &Node,
        _op: OpId,
        _operation: &mut Operation,
        _now: Time,
        _out: &mut Output,
    ) -> Option<Result<Outcome, OpError>> {
        None
    }
}

/// The ping's result from its answer (`None`: an error reply or a timeout).
pub(super) fn on_answer(response: Option<&Response<'_>>) -> Result<Outcome, OpError> {
    match response {
        Some(r) => Ok(Outcome::Pong(r.id)),
        None => Err(OpError::Timeout),
    }
}
