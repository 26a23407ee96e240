//! `sample_infohashes`: the info-hashes stored around a target (BEP 51). A lookup
//! that asks `sample_infohashes` (its answers carry `nodes` like `find_node`'s) and
//! collects every answer's samples; a crawler walks the keyspace with one per
//! region.
//!
//! A node that does not know the method answers with an error and counts as failed
//! for the lookup, which goes on through the others.

use super::{answered, Found, Kind, Operation};
use crate::id::Id;
use crate::lookup::Lookup;
use crate::node::ops::{InfohashSamples, OpError, OpId, Outcome};
use crate::node::output::Output;
use crate::node::Node;
use crate::time::Time;
use crate::wire::{QueryMethod, Response};

/// Most info-hashes one lookup collects.
const MAX_SAMPLED: usize = 4096;

/// What a lookup sampled so far.
#[derive(Debug, Default)]
pub(in crate::node) struct Sampled {
    result: InfohashSamples,
}

/// [`Request::SampleInfohashes`](crate::node::Request::SampleInfohashes).
pub(super) struct Sample;

impl Kind for Sample {
    fn lookup_method(&self, target: Id, _found: &Found) -> QueryMethod<'static> {
        QueryMethod::SampleInfohashes { target }
    }

    fn on_lookup_answer(
        &self,
        _node: &Node,
        found: &mut Found,
        _lookup: &mut Lookup,
        response: &Response<'_>,
    ) {
        let Some(samples) = &response.samples else {
            return;
        };
        let r = &mut found.samples.get_or_insert_with(Box::default).result;
        r.responders += 1;
        r.max_num = r.max_num.max(response.num.unwrap_or(0).max(0) as u64);
        r.interval = r.interval.max(response.interval.unwrap_or(0).max(0) as u64);
        for id in samples.iter() {
            if r.info_hashes.len() < MAX_SAMPLED && !r.info_hashes.contains(&id) {
                r.info_hashes.push(id);
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
        let sampled = operation.found.samples.take();
        if answered(operation) == 0 && sampled.is_none() {
            return Some(Err(OpError::Timeout));
        }
        Some(Ok(Outcome::Samples(
            sampled.map(|s| s.result).unwrap_or_default(),
        )))
    }
}
