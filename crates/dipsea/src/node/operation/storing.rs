//! The store phase of a put or announce: the store query to each of the closest
//! nodes that gave a write token, then the count of their acknowledgements and
//! refusals ([`Verdicts`]).

use super::{Operation, Phase};
use crate::id::{Id, NodeInfo};
use crate::node::ops::{OpError, OpId, Outcome};
use crate::node::output::Output;
use crate::node::Node;
use crate::time::Time;
use crate::wire::{error_code, QueryMethod};

/// How the nodes asked to store answered so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(in crate::node) struct Verdicts {
    /// Nodes that stored it.
    pub(in crate::node) acks: usize,
    /// Nodes that answered 301: their sequence number is not the `cas` sent.
    pub(in crate::node) cas_mismatch: usize,
    /// Nodes that answered 302: they hold a newer version.
    pub(in crate::node) seq_too_old: usize,
}

impl Verdicts {
    /// Counts one answer to a store query: a response, a KRPC error `code`, or a
    /// timeout (`None`, counted nowhere).
    fn count(&mut self, answer: Option<Result<(), i64>>) {
        match answer {
            Some(Ok(())) => self.acks += 1,
            Some(Err(error_code::CAS_MISMATCH)) => self.cas_mismatch += 1,
            Some(Err(error_code::SEQ_TOO_OLD)) => self.seq_too_old += 1,
            _ => {}
        }
    }

    /// Whether the store succeeded: some node stored it, and no more nodes refused
    /// it for holding another version (a node that lacked the item, e.g. one that
    /// joined the closest set later, accepts what the others refuse as stale).
    fn stored(&self) -> bool {
        self.acks > 0 && self.acks >= self.cas_mismatch + self.seq_too_old
    }

    /// The failure when the store did not succeed: the nodes' own reason when they
    /// gave one that the caller can act on (CAS first: it is what the caller asked
    /// for).
    fn failure(&self, asked: usize) -> OpError {
        if self.cas_mismatch > 0 {
            OpError::CasMismatch
        } else if self.seq_too_old > 0 {
            OpError::SeqTooOld
        } else {
            OpError::NotStored { asked }
        }
    }
}

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
        verdicts: Verdicts::default(),
        asked: sent,
    };
    None
}

/// The phase's result once every store query is answered or timed out.
pub(super) fn drive(operation: &Operation) -> Option<Result<Outcome, OpError>> {
    let Phase::Storing {
        outstanding,
        verdicts,
        asked,
    } = operation.phase
    else {
        return None;
    };
    if outstanding > 0 {
        return None;
    }
    Some(if verdicts.stored() {
        super::kind_of(&operation.request)
            .stored(&operation.request, &operation.found, verdicts.acks)
            .ok_or(OpError::NotStored { asked })
    } else {
        Err(verdicts.failure(asked))
    })
}

/// One store query's answer: a response (`Some(Ok)`), an error reply with its code
/// (`Some(Err)`), or a timeout (`None`).
pub(super) fn on_answer(phase: &mut Phase, answer: Option<Result<(), i64>>) {
    if let Phase::Storing {
        outstanding,
        verdicts,
        ..
    } = phase
    {
        *outstanding = outstanding.saturating_sub(1);
        verdicts.count(answer);
    }
}

/// The nodes that gave a write token, each with its token.
pub(super) type TokenHolders = Vec<(NodeInfo, Box<[u8]>)>;

/// The end of a put's or announce's lookup: how many of the closest nodes answered,
/// the target, and the nodes that gave a write token with their tokens.
pub(super) fn token_holders(operation: &mut Operation) -> Option<(usize, Id, TokenHolders)> {
    let Phase::Lookup(lookup) = &mut operation.phase else {
        return None;
    };
    let answered = lookup.closest_answered().count();
    Some((answered, lookup.target(), lookup.take_tokens()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_count_codes_and_name_the_failure() {
        let mut verdicts = Verdicts::default();
        verdicts.count(None);
        verdicts.count(Some(Err(error_code::PROTOCOL)));
        assert_eq!(verdicts.failure(2), OpError::NotStored { asked: 2 });
        verdicts.count(Some(Err(error_code::SEQ_TOO_OLD)));
        assert_eq!(verdicts.failure(3), OpError::SeqTooOld);
        verdicts.count(Some(Err(error_code::CAS_MISMATCH)));
        assert_eq!(verdicts.failure(4), OpError::CasMismatch);
        verdicts.count(Some(Ok(())));
        assert!(!verdicts.stored(), "one ack against two refusals");
        verdicts.count(Some(Ok(())));
        assert!(verdicts.stored());
        verdicts.acks -= 1;
        assert_eq!(
            verdicts,
            Verdicts {
                acks: 1,
                cas_mismatch: 1,
                seq_too_old: 1
            }
        );
    }
}
