//! `announce`: tells the k closest nodes to an info-hash that this host serves it
//! (a `get_peers` lookup for their write tokens, then `announce_peer` in the store
//! phase), and keeps it for re-announcing.

use super::{request_target, storing, Begin, Found, Kind, Operation};
use crate::id::Id;
use crate::node::ops::{OpError, OpId, Outcome, Request};
use crate::node::output::Output;
use crate::node::Node;
use crate::time::Time;
use crate::wire::QueryMethod;

/// [`Request::Announce`].
pub(super) struct Announce;

impl Kind for Announce {
    fn begin(
        &self,
        node: &Node,
        _op: OpId,
        operation: &mut Operation,
        _now: Time,
        _out: &mut Output,
    ) -> Begin {
        let begun = node.begin_lookup(request_target(&operation.request), operation);
        if let (
            Begin::Run,
            Request::Announce {
                info_hash,
                port,
                seed,
            },
        ) = (&begun, &operation.request)
        {
            node.announced.lock().insert(*info_hash, (*port, *seed));
        }
        begun
    }

    fn lookup_method(&self, target: Id, _found: &Found) -> QueryMethod<'static> {
        QueryMethod::GetPeers {
            info_hash: target,
            scrape: false,
        }
    }

    fn wants_tokens(&self) -> bool {
        true
    }

    fn after_lookup(
        &self,
        node: &Node,
        op: OpId,
        operation: &mut Operation,
        now: Time,
        out: &mut Output,
    ) -> Option<Result<Outcome, OpError>> {
        let (answered, _, targets) = storing::token_holders(operation)?;
        let Request::Announce {
            info_hash,
            port,
            seed,
        } = operation.request
        else {
            return None;
        };
        let sent = node.store_on(op, &targets, now, out, |token| QueryMethod::AnnouncePeer {
            info_hash,
            port: port.unwrap_or(0),
            implied_port: port.is_none(),
            token,
            seed,
        });
        storing::begin(operation, answered, sent)
    }

    fn stored(&self, _request: &Request, _found: &Found, acks: usize) -> Option<Outcome> {
        Some(Outcome::Announced { stored: acks })
    }
}
