//! `bootstrap`: joins the network with a lookup of the own id, seeded from the
//! table and the saved contacts, or else from the routers asked in turn; a joined
//! node then refreshes its farther buckets (see `maintenance`).

use super::{answered, Begin, Kind, Operation, Phase};
use crate::id::NodeInfo;
use crate::node::ops::{OpError, OpId, Outcome};
use crate::node::output::Output;
use crate::node::Node;
use crate::time::Time;
use crate::wire::{QueryMethod, Response};

/// [`Request::Bootstrap`](crate::node::Request::Bootstrap).
pub(super) struct Bootstrap;

impl Kind for Bootstrap {
    fn begin(
        &self,
        node: &Node,
        op: OpId,
        operation: &mut Operation,
        _now: Time,
        _out: &mut Output,
    ) -> Begin {
        node.maintenance.lock().bootstrap_op = Some(op);
        let mut seeds = Vec::new();
        node.closest_contacts(&node.id, node.lookup_seeds(), &mut seeds);
        seeds.extend(node.seeds.lock().iter().copied());
        if seeds.is_empty() {
            operation.tried_routers = true;
            operation.phase = Phase::Routers {
                next: 0,
                waiting: false,
            };
        } else {
            operation.phase = Phase::Lookup(Box::new(node.new_lookup(node.id, seeds)));
        }
        Begin::Run
    }

    fn after_lookup(
        &self,
        node: &Node,
        op: OpId,
        operation: &mut Operation,
        now: Time,
        out: &mut Output,
    ) -> Option<Result<Outcome, OpError>> {
        let answered = answered(operation);
        if answered == 0 && !operation.tried_routers && !node.config.bootstrap.is_empty() {
            operation.tried_routers = true;
            operation.phase = Phase::Routers {
                next: 0,
                waiting: false,
            };
            return node.next_router(op, operation, now, out);
        }
        if answered == 0 {
            return Some(Err(OpError::Timeout));
        }
        Some(Ok(Outcome::Bootstrapped {
            table_size: node.table_len(),
        }))
    }

    fn on_done(&self, node: &Node, succeeded: bool, now: Time, out: &mut Output) {
        if succeeded {
            node.refresh_after_join(now, out);
        }
    }
}

impl Node {
    /// Bootstrap: asks the next router in turn unless one is being asked, or fails
    /// when none is left.
    pub(super) fn next_router(
        &self,
        op: OpId,
        operation: &mut Operation,
        now: Time,
        out: &mut Output,
    ) -> Option<Result<Outcome, OpError>> {
        let Phase::Routers { next, waiting } = &mut operation.phase else {
            return None;
        };
        if *waiting {
            return None;
        }
        while let Some(to) = self.config.bootstrap.get(*next).copied() {
            *next += 1;
            if self.send_query(
                to,
                None,
                Some(op),
                QueryMethod::FindNode { target: self.id },
                now,
                out,
            ) {
                *waiting = true;
                operation.sent += 1;
                return None;
            }
        }
        Some(Err(OpError::Timeout))
    }

    /// A router's answer (`None`: an error reply or a timeout): a lookup of the own
    /// id from the nodes it knows, or the next router.
    pub(super) fn on_router_answer(
        &self,
        phase: &mut Phase,
        router: NodeInfo,
        response: Option<&Response<'_>>,
    ) {
        match response {
            Some(r) => {
                let seeds = r
                    .nodes
                    .iter()
                    .flat_map(|n| n.iter())
                    .chain(r.nodes6.iter().flat_map(|n| n.iter()))
                    .chain(std::iter::once(router));
                *phase = Phase::Lookup(Box::new(self.new_lookup(self.id, seeds)));
            }
            None => {
                if let Phase::Routers { waiting, .. } = phase {
                    *waiting = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::node::test_support::{addr, node_with_router, run_silent};
    use crate::node::{Event, OpError, Output, Request};
    use crate::time::Time;

    #[test]
    fn dead_router_gives_timeout_after_retry() {
        let node = node_with_router(addr(9));
        let mut out = Output::new();
        let op = node.next_op_id();
        node.start(op, Request::Bootstrap, Time::ZERO, &mut out);
        assert_eq!(out.datagram_count(), 1, "one find_node to the router");
        out.clear();
        let (sends, events) = run_silent(&node, Time::from_millis(20_000), &mut out);
        let done: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Done { op: o, result } => (*o == op).then_some(result),
                Event::ExternalIp { .. }
                | Event::Broadcast(_)
                | Event::MutableUpdate(_)
                | Event::Peers { .. } => None,
            })
            .collect();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].outcome, Err(OpError::Timeout));
        assert!(
            !sends.is_empty(),
            "the query was sent again before giving up"
        );
        // Re-bootstrap attempts on the empty table add more of the same.
        assert!(node.stats().timeouts >= 1);
        assert!(node.stats().retries >= u64::from(node.config().max_retries));
    }
}
