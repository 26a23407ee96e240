//! `put`: stores a BEP 44 immutable item on the k closest nodes (a `get` lookup
//! for their write tokens, then the store phase), and keeps it for re-publishing.

use super::{request_target, storing, Begin, Found, Kind, Operation};
use crate::id::Id;
use crate::node::ops::{OpError, OpId, Outcome, Request};
use crate::node::output::Output;
use crate::node::Node;
use crate::store::MAX_VALUE_LEN;
use crate::time::Time;
use crate::wire::{self, PutArgs, QueryMethod};

/// [`Request::Put`].
pub(super) struct Put;

impl Kind for Put {
    fn begin(
        &self,
        node: &Node,
        _op: OpId,
        operation: &mut Operation,
        _now: Time,
        _out: &mut Output,
    ) -> Begin {
        if let Request::Put(v) = &operation.request {
            if let Err(reason) = check_value(v) {
                return Begin::Done(Err(OpError::BadInput(reason)));
            }
        }
        let target = request_target(&operation.request);
        let begun = node.begin_lookup(target, operation);
        if let (Begin::Run, Request::Put(v)) = (&begun, &operation.request) {
            node.published.lock().insert(target, v.clone());
        }
        begun
    }

    fn lookup_method(&self, target: Id, _found: &Found) -> QueryMethod<'static> {
        QueryMethod::Get { target, seq: None }
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
        let (answered, target, targets) = storing::token_holders(operation)?;
        let Request::Put(v) = &operation.request else {
            return None;
        };
        let sent = node.store_on(op, &targets, now, out, |token| {
            QueryMethod::Put(PutArgs {
                target: Some(target),
                ..PutArgs::immutable(token, v)
            })
        });
        storing::begin(operation, answered, sent)
    }

    fn stored(&self, request: &Request, _found: &Found, acks: usize) -> Option<Outcome> {
        Some(Outcome::Stored {
            key: request_target(request),
            stored: acks,
        })
    }
}

/// Why a bencoded value cannot be put, if it cannot: not valid bencode, or over
/// BEP 44's size limit.
pub(super) fn check_value(v: &[u8]) -> Result<(), String> {
    if let Err(error) = wire::bencode::validate(v) {
        return Err(format!("the value is not valid bencode: {error}"));
    }
    if v.len() > MAX_VALUE_LEN {
        return Err(format!(
            "a value is at most {MAX_VALUE_LEN} bytes bencoded, got {}",
            v.len()
        ));
    }
    Ok(())
}
