//! What a swarm measures: per-operation records and the summary [`SwarmStats`].

/// A summary of a swarm's network and of the operations run through
/// [`Swarm`](super::Swarm)'s scenario methods (not the nodes' own maintenance).
///
/// Every field but `build_wall_ms` and `wall_ms` is a function of the seed and the
/// calls made: two swarms driven alike give equal stats
/// ([`SwarmStats::deterministic`] drops the two wall-clock fields for comparing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SwarmStats {
    /// Nodes ever created (live or not).
    pub nodes: usize,
    /// Nodes running now (joined or still joining).
    pub live: usize,
    /// Operations finished.
    pub ops: u64,
    /// Operations that succeeded: an `Ok` outcome and, for a get, a value found.
    pub ops_ok: u64,
    /// `ops_ok / ops` (1.0 when no operation ran).
    pub success_rate: f64,
    /// Median lookup rounds (the deepest round of a node that answered, plus one).
    pub rounds_p50: f64,
    /// 99th-percentile lookup rounds.
    pub rounds_p99: f64,
    /// Median queries one operation sent (lookup and store phases; answers are not
    /// counted).
    pub messages_per_lookup_p50: f64,
    /// 99th percentile of the queries one operation sent.
    pub messages_per_lookup_p99: f64,
    /// Median virtual time from an operation's start to its result, in ms.
    pub latency_p50_ms: f64,
    /// 99th-percentile virtual latency, in ms.
    pub latency_p99_ms: f64,
    /// Bytes of all datagrams sent by all nodes (maintenance included).
    pub bytes_sent: u64,
    /// Datagrams sent by all nodes.
    pub packets_sent: u64,
    /// Datagrams that never reached a live node: random loss, a partition between
    /// the two ends, or a destination that is down.
    pub packets_lost: u64,
    /// Estimated bytes per live node: each node's own accounting of its heap and
    /// inline size plus the simulator's per-node bookkeeping (see
    /// [`Swarm::memory_per_node`](super::Swarm::memory_per_node)). An estimate, not a
    /// measurement, so that it is deterministic; the benchmark measures RSS beside it.
    pub memory_per_node: usize,
    /// Wall-clock time it took to build the network, in ms (not deterministic).
    pub build_wall_ms: u64,
    /// Wall-clock time since the swarm was created, in ms (not deterministic).
    pub wall_ms: u64,
    /// Virtual time since the swarm was created, in ms.
    pub virtual_ms: u64,
}

impl SwarmStats {
    /// These stats without the wall-clock fields (zeroed): what two runs with the
    /// same seed must agree on exactly.
    pub fn deterministic(&self) -> SwarmStats {
        SwarmStats {
            build_wall_ms: 0,
            wall_ms: 0,
            ..self.clone()
        }
    }
}

/// Records of finished scenario operations.
#[derive(Clone, Debug, Default)]
pub(crate) struct Metrics {
    pub ops: u64,
    pub ops_ok: u64,
    /// Rounds of each operation that ran a lookup.
    pub rounds: Vec<u16>,
    /// Queries each operation that ran a lookup sent.
    pub messages: Vec<u32>,
    /// Virtual latency of each finished operation, ms.
    pub latency: Vec<u32>,
}

impl Metrics {
    pub fn record(&mut self, ok: bool, rounds: u16, sent: u32, latency_ms: u64) {
        self.ops += 1;
        self.ops_ok += u64::from(ok);
        if rounds > 0 {
            self.rounds.push(rounds);
            self.messages.push(sent);
        }
        self.latency
            .push(u32::try_from(latency_ms).unwrap_or(u32::MAX));
    }
}

/// The `p`-th quantile (0..=1) of `values` by the nearest-rank method; 0 when empty.
pub(crate) fn quantile<T: Copy + Ord + Into<f64>>(values: &[T], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = (p * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted[index].into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile::<u32>(&[], 0.5), 0.0);
        assert_eq!(quantile(&[7u16], 0.99), 7.0);
    }
}
