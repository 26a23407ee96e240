//! Maintenance: the node's periodic jobs, run from [`Node::tick`].
//!
//! Entry point: [`Node::tick`], which expires queries (`transactions`), drives the
//! operations (`operation`) and then runs what is due here: token rotation, the
//! store sweep and pings of questionable contacts ([`NodeConfig::maintenance_interval`]),
//! bucket refresh ([`NodeConfig::refresh_interval`]), re-publishing of the items and
//! announces this node made ([`NodeConfig::republish_interval`]), and re-bootstrap of
//! an emptied table with backoff. The refresh after a join (Kademlia's second join
//! step) lives here too.
//!
//! Locks: the maintenance mutex, held only while deciding what is due; the
//! operations it starts are started after it is released.
//!
//! [`NodeConfig::maintenance_interval`]: super::NodeConfig::maintenance_interval
//! [`NodeConfig::refresh_interval`]: super::NodeConfig::refresh_interval
//! [`NodeConfig::republish_interval`]: super::NodeConfig::republish_interval

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::config::NodeConfig;
use super::ops::{OpId, Request};
use super::output::Output;
use super::Node;
use crate::id::Id;
use crate::routing::RoutingTable;
use crate::store::MutableItem;
use crate::time::Time;
use crate::wire::QueryMethod;

/// Timers of the periodic maintenance, touched only by [`Node::tick`] (and by a
/// bootstrap's start, which records its operation).
#[derive(Debug)]
pub(super) struct Maintenance {
    next_run: Time,
    next_refresh_check: Time,
    next_republish: Time,
    next_rebootstrap: Time,
    rebootstrap_backoff: Duration,
    /// The bootstrap running now, if any (started by the user or by re-bootstrap).
    pub(super) bootstrap_op: Option<OpId>,
}

impl Maintenance {
    /// Timers of a node `id` created at `now`: every job first due one interval
    /// later, the bucket refresh check a little later still (up to a quarter of its
    /// interval, from `id`). Nodes started together (a simulated network, a swarm
    /// in one process) then refresh their buckets at different moments, not all at
    /// once: a million simulated nodes refreshing in the same instant held some 20
    /// million lookups alive together, more than 24 GB; and each refresh's queries
    /// mark the asked nodes' buckets fresh, which spares those nodes a lookup when
    /// their own check comes later.
    pub(super) fn new(id: &Id, now: Time, config: &NodeConfig) -> Maintenance {
        Maintenance {
            next_run: now + config.maintenance_interval,
            next_refresh_check: now + config.refresh_interval + refresh_offset(id, config),
            next_republish: now + config.republish_interval,
            next_rebootstrap: now + config.rebootstrap_min,
            rebootstrap_backoff: config.rebootstrap_min,
            bootstrap_op: None,
        }
    }
}

/// How much later than one interval node `id` first checks its buckets: up to a
/// quarter of the refresh interval (the period of the checks after it), spread by
/// two bytes of the id, which are uniform.
fn refresh_offset(id: &Id, config: &NodeConfig) -> Duration {
    let bytes = id.as_bytes();
    let spread = u32::from(u16::from_be_bytes([bytes[18], bytes[19]]));
    config.refresh_interval / 4 * spread / 65_536
}

/// Operations a maintenance pass decided to start, started once its lock is released.
type ToStart = Vec<(OpId, Request)>;

impl Node {
    /// Handles everything due at `now`: query timeouts and retries, stalled lookups,
    /// and periodic maintenance (token rotation, store sweep, pings of questionable
    /// contacts, bucket refresh, re-publishing, re-bootstrap of an empty table).
    ///
    /// Locks: in-flight shards one at a time, each operation's shard (then
    /// in-flight shards), then the maintenance mutex.
    pub fn tick(&self, now: Time, out: &mut Output) {
        // Deadlines registered while we scan land in the fresh minimum.
        self.next_deadline
            .store(Time::NEVER.as_millis(), Ordering::SeqCst);
        // Most ticks of a node with nothing in flight come from a deadline that
        // passed as an answer came: the table need not be read then. Sequentially
        // consistent with `send_encoded`'s count and deadline, so that a query sent
        // meanwhile is either seen here or leaves its deadline after the reset.
        let mut earliest = if self.in_flight_len.load(Ordering::SeqCst) == 0 {
            Time::NEVER
        } else {
            self.expire_due(now, out)
        };
        let mut ops: Vec<OpId> = self.ops.iter().map(|e| *e.key()).collect();
        ops.sort_unstable();
        for op in ops {
            self.drive(op, now, out);
        }
        earliest = earliest.min(self.maintain(now, out));
        earliest = earliest.min(self.tick_subscriptions(now, out));
        earliest = earliest.min(self.onehop_tick(now, out));
        self.want_tick_at(earliest);
    }

    /// Periodic work; returns when it is next due.
    fn maintain(&self, now: Time, out: &mut Output) -> Time {
        let mut m = self.maintenance.lock();
        let mut start = Vec::new();
        self.rebootstrap_if_empty(&mut m, now, &mut start);
        if now >= m.next_run {
            m.next_run = now + self.config.maintenance_interval;
            self.housekeep(now, out);
        }
        if now >= m.next_refresh_check {
            m.next_refresh_check = now + self.config.refresh_interval / 4;
            self.refresh_stale_buckets(now, &mut start);
        }
        if now >= m.next_republish {
            m.next_republish = now + self.config.republish_interval;
            self.republish(&mut start);
        }
        let next = self.next_maintenance(&m, now);
        drop(m);
        for (op, request) in start {
            self.start(op, request, now, out);
        }
        next
    }

    /// Re-bootstraps when the table has emptied (an outage), with backoff.
    fn rebootstrap_if_empty(&self, m: &mut Maintenance, now: Time, start: &mut ToStart) {
        let bootstrapping = m.bootstrap_op.is_some_and(|op| self.ops.contains_key(&op));
        if !bootstrapping {
            m.bootstrap_op = None;
        }
        // Every tick asks, so the tables' summary bits, not a count of contacts.
        let empty = self.tables().all(RoutingTable::is_empty);
        if empty
            && !bootstrapping
            && now >= m.next_rebootstrap
            && (!self.config.bootstrap.is_empty() || self.has_seeds())
        {
            let op = self.next_op_id();
            m.bootstrap_op = Some(op);
            m.next_rebootstrap = now + m.rebootstrap_backoff;
            m.rebootstrap_backoff = (m.rebootstrap_backoff * 2).min(self.config.rebootstrap_max);
            start.push((op, Request::Bootstrap));
        } else if !empty {
            m.rebootstrap_backoff = self.config.rebootstrap_min;
        }
    }

    /// Token rotation, store sweep, table shrinking and pings of the contacts that
    /// have been quiet too long.
    fn housekeep(&self, now: Time, out: &mut Output) {
        self.tokens.maybe_rotate(now, &mut self.rng());
        self.store.sweep(now);
        self.shrink_to_fit();
        for contact in self.tables().flat_map(|t| t.questionable(now)) {
            self.send_query(
                contact.addr,
                Some(contact.id),
                None,
                QueryMethod::Ping,
                now,
                out,
            );
        }
    }

    /// A lookup of a random id in each bucket not refreshed for an interval.
    fn refresh_stale_buckets(&self, now: Time, start: &mut ToStart) {
        let mut rng = self.rng();
        let stale = self
            .tables()
            .flat_map(|t| t.buckets_to_refresh(now, self.config.refresh_interval))
            .collect::<std::collections::BTreeSet<_>>();
        for bucket in stale {
            let target = self.id.random_in_bucket(bucket, &mut rng);
            start.push((self.next_op_id(), Request::FindNode(target)));
        }
    }

    /// A put of each item (mutable ones as signed, same sequence number) and an
    /// announce of each info-hash this node published.
    fn republish(&self, start: &mut ToStart) {
        // Copied out: `start` takes the maps' locks again.
        let items: Vec<Vec<u8>> = self.published.lock().values().cloned().collect();
        for v in items {
            start.push((self.next_op_id(), Request::Put(v)));
        }
        let announces: Vec<(Id, (Option<u16>, bool))> = self
            .announced
            .lock()
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        for (info_hash, (port, seed)) in announces {
            let request = Request::Announce {
                info_hash,
                port,
                seed,
            };
            start.push((self.next_op_id(), request));
        }
        let signed: Vec<MutableItem> = self.published_mutable.lock().values().cloned().collect();
        for item in signed {
            let request = Request::RepublishMutable(Box::new(item));
            start.push((self.next_op_id(), request));
        }
    }

    /// When maintenance is next due.
    fn next_maintenance(&self, m: &Maintenance, now: Time) -> Time {
        // Only a re-bootstrap still to come is a deadline: one running now (or due
        // in the past) would make the driver tick at once, again and again.
        let empty = self.tables().all(RoutingTable::is_empty);
        let rebootstrap = if empty && m.bootstrap_op.is_none() && m.next_rebootstrap > now {
            m.next_rebootstrap
        } else {
            Time::NEVER
        };
        m.next_run
            .min(m.next_refresh_check)
            .min(m.next_republish)
            .min(rebootstrap)
    }

    /// The second half of Kademlia's join (section 2.3 of the paper), after the
    /// lookup of the own id: a lookup of a random id in each bucket farther than the
    /// closest neighbour, skipping full ones. Lookups of the own id stay near it, so
    /// without this a young network keeps blind spots: in one bootstrapped from a
    /// single seed, half the nodes on the seed's side of the keyspace knew no node
    /// on the other side, and a lookup started there for a target over there ended
    /// at the wrong eight nodes (a put stored where no get would look). The nodes
    /// these lookups ask learn of the joiner too. Runs in the background: the
    /// bootstrap has already reported. Off with [`NodeConfig::refresh_on_join`].
    pub(super) fn refresh_after_join(&self, now: Time, out: &mut Output) {
        if !self.config.refresh_on_join {
            return;
        }
        // `bucket_lens` ends at the deepest non-empty bucket, the closest neighbour's.
        let lens = self.routing.bucket_lens();
        let farther = &lens[..lens.len().saturating_sub(1)];
        let mut rng = self.rng();
        for (bucket, &len) in farther.iter().enumerate() {
            if len < self.config.routing.k {
                let target = self.id.random_in_bucket(bucket, &mut rng);
                self.start(self.next_op_id(), Request::FindNode(target), now, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::node::test_support::{addr, node_with_router, run_silent};
    use crate::node::Output;
    use crate::time::Time;

    #[test]
    fn empty_table_rebootstraps_with_backoff() {
        let node = node_with_router(addr(9));
        let mut out = Output::new();
        let (sends, _) = run_silent(&node, Time::from_millis(120_000), &mut out);
        // Each attempt sends the query and its retry; attempts start further and
        // further apart.
        let attempts: Vec<Time> = sends.iter().copied().step_by(2).collect();
        assert!(attempts.len() >= 4, "re-bootstrap attempts: {attempts:?}");
        let gaps: Vec<u64> = attempts
            .windows(2)
            .map(|w| w[1].as_millis() - w[0].as_millis())
            .collect();
        assert!(
            gaps.windows(2).all(|g| g[1] >= g[0]),
            "backoff never shrinks: {gaps:?}"
        );
        assert!(gaps.last() > gaps.first(), "backoff grows: {gaps:?}");
    }
}
