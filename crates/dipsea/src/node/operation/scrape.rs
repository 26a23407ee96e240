//! `scrape`: how many seeds and peers an info-hash has (BEP 33). A `get_peers`
//! lookup with `scrape: 1`; each answer's bloom filters are kept by responder, and
//! at the end those of the k closest nodes that answered are united and counted.

use super::{answered, Found, Kind, Operation};
use crate::id::Id;
use crate::lookup::Lookup;
use crate::node::ops::{OpError, OpId, Outcome, ScrapeEstimate};
use crate::node::output::Output;
use crate::node::Node;
use crate::time::Time;
use crate::wire::{BloomFilter, QueryMethod, Response};

/// Most answers whose filters a scrape keeps: the k closest are among the first
/// answers of a lookup that asks at most a few dozen nodes.
const MAX_FILTERS: usize = 64;

/// [`Request::Scrape`](crate::node::Request::Scrape).
pub(super) struct Scrape;

impl Kind for Scrape {
    fn lookup_method(&self, target: Id, _found: &Found) -> QueryMethod<'static> {
        QueryMethod::GetPeers {
            info_hash: target,
            scrape: true,
        }
    }

    fn on_lookup_answer(
        &self,
        _node: &Node,
        found: &mut Found,
        _lookup: &mut Lookup,
        response: &Response<'_>,
    ) {
        let (Some(seeds), Some(peers)) = (response.bf_seeds, response.bf_peers) else {
            return;
        };
        if found.filters.len() >= MAX_FILTERS
            || found.filters.iter().any(|(id, _)| *id == response.id)
        {
            return;
        }
        let filters = (
            BloomFilter::from_bytes(*seeds),
            BloomFilter::from_bytes(*peers),
        );
        found.filters.push((response.id, Box::new(filters)));
    }

    fn after_lookup(
        &self,
        _node: &Node,
        _op: OpId,
        operation: &mut Operation,
        _now: Time,
        _out: &mut Output,
    ) -> Option<Result<Outcome, OpError>> {
        if answered(operation) == 0 {
            return Some(Err(OpError::Timeout));
        }
        let super::Phase::Lookup(lookup) = &operation.phase else {
            return None;
        };
        let (mut seeds, mut peers) = (BloomFilter::new(), BloomFilter::new());
        let mut responders = 0;
        for (node, _) in lookup.closest_answered() {
            if let Some((_, f)) = operation
                .found
                .filters
                .iter()
                .find(|(id, _)| *id == node.id)
            {
                seeds.union(&f.0);
                peers.union(&f.1);
                responders += 1;
            }
        }
        Some(Ok(Outcome::Scrape(ScrapeEstimate {
            seeds: seeds.estimate(),
            peers: peers.estimate(),
            responders,
        })))
    }
}
