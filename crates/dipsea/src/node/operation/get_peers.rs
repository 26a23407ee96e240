//! `get_peers`: the peers announced for an info-hash (BEP 5), collected along a
//! lookup.

use super::{answered, Found, Kind, Operation};
use crate::id::Id;
use crate::lookup::Lookup;
use crate::node::ops::{OpError, OpId, Outcome};
use crate::node::output::Output;
use crate::node::Node;
use crate::time::Time;
use crate::wire::{QueryMethod, Response};

/// Most peers one `get_peers` lookup collects.
const MAX_PEERS_PER_LOOKUP: usize = 256;

/// [`Request::GetPeers`](crate::node::Request::GetPeers).
pub(super) struct GetPeers;

impl Kind for GetPeers {
    fn lookup_method(&self, target: Id, _found: &Found) -> QueryMethod<'static> {
        QueryMethod::GetPeers {
            info_hash: target,
            scrape: false,
        }
    }

    fn on_lookup_answer(
        &self,
        _node: &Node,
        found: &mut Found,
        _lookup: &mut Lookup,
        response: &Response<'_>,
    ) {
        let Some(values) = &response.values else {
            return;
        };
        for peer in values.iter() {
            if found.peers.len() < MAX_PEERS_PER_LOOKUP && !found.peers.contains(&peer) {
                found.peers.push(peer);
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
        if answered(operation) == 0 && operation.found.peers.is_empty() {
            return Some(Err(OpError::Timeout));
        }
        Some(Ok(Outcome::Peers(std::mem::take(
            &mut operation.found.peers,
        ))))
    }
}
