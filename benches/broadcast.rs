//! Broadcast over the simulator at scale: builds a network by real joins (default a
//! million nodes, `SIM_NODES`), lets every bucket be refreshed once (20 minutes of
//! virtual time, BEP 5's refresh), then, for beta = 1, 2 and 3, broadcasts to every
//! node from a random node on the static network, under 10% packet loss, and right
//! after 30% of the nodes crashed. Reports coverage (delivered / live nodes),
//! broadcast messages per node (hand-offs and retries; acknowledgements apart),
//! depth (hops from the origin: the most, and the mean) and virtual time to full
//! delivery.
//!
//! Baselines (issue 16): static, beta 1: 100% with at most N messages; 10% loss,
//! beta 2: at least 99.9%; 30% crashed, beta 2: at least 99.5% with at most 2.5 N.
//!
//! The static and loss broadcasts run in turn on one network (each loss broadcast
//! starts a settle time, `SIM_SETTLE_SECS`, default 60 s, after the one before,
//! under loss all along). Each beta after the crash runs on a network of its own,
//! built again from the same seed (the same nodes, tables and crashed nodes) and
//! broadcast from right after the crash: one broadcast's timeouts would otherwise
//! repair the tables the next one uses.
//!
//! Not run in CI; CI only compiles it. Run: `cargo bench -p dipsea-benches --bench
//! broadcast` (set `SIM_NODES`, `SIM_SEED`, `SIM_THREADS`).
//!
//! `SIM_CRASH=once` runs the crash case once, with beta 2, on the network the other
//! broadcasts used (one build instead of four; `SIM_CRASH=skip` leaves it out);
//! `SIM_CRASH=only:BETA` runs only the crash case with that beta, right after the
//! build and refresh (the network "rebuild" gives it: the same crashed nodes), and
//! with `SIM_MULTICAST=1` the multicasts first. The multicasts go to 1/256 of the
//! key space (a random node's first id byte) on the static network, beta 1 to 3,
//! after the static broadcasts;
//! `SIM_REFRESH_MINUTES` sets the virtual time advanced after the build (20).
//! Without the refresh the tree misses nodes: the simulator's joins leave sparse
//! tables (its nodes skip the refresh after joining), and a node whose bucket 0 is
//! empty hands half the network to no one (20,000 nodes, no refresh: 48% to 94%
//! depending on the origin).
//!
//! A million nodes, seed 1, 2 threads, session 10 (2-core VM, `SIM_CRASH=once`):
//! the build and 20 minutes of refresh took 1,905 s of wall time, 9,162 B per node of
//! peak RSS then, 11.0 GB at the end. Static, beta 1 / 2 / 3: 100% with 1.000 /
//! 1.094 / 1.165 messages per node, depth 20 / 18 / 18 (mean 9.9 / 9.0 / 8.6),
//! 1.3 / 1.1 / 1.0 s to full delivery. 10% loss: 99.968% / 99.966% / 99.971% with
//! 1.286 / 1.285 / 1.371 messages per node, depth 19, 3.4 to 3.7 s. Right after 30%
//! crashed (following those broadcasts), beta 2: 99.998% of the 700,000 live nodes
//! with 2.834 messages per live node (1.98 N), depth 21 (mean 9.7), 10.5 s, 290
//! rescue lookups (4,649 queries). Each broadcast took 65 to 90 s of wall time (its
//! 60 s of virtual time include every node's maintenance). A second build,
//! `SIM_CRASH=only:1 SIM_MULTICAST=1`: multicasts to 1/256, beta 1 / 2 / 3, reached
//! 3,885 / 3,878 / 3,880 of as many nodes in their ranges with 3,885 / 4,274 /
//! 4,172 messages, none elsewhere, depth 12 / 11 / 14; then right after 30%
//! crashed, beta 1: 99.998% of the live nodes with 2.821 messages per live node,
//! depth 21, 11.4 s, 308 rescue lookups. A third, `SIM_CRASH=only:3`: right after
//! 30% crashed, beta 3: 99.998% (699,983 of 700,000) with 2.850 messages per live
//! node (1.99 N), depth 19 (mean 9.4), 11.1 s, 356 rescue lookups (5,791 queries);
//! its build and refresh took 1,487 s. (That run's "lookup into the range" counts,
//! 82,108 to 153,638, were every datagram the network sent meanwhile; the report
//! now counts the lookup's own queries.)

use std::collections::HashSet;
use std::time::{Duration, Instant};

use dipsea::push::{AcceptPolicy, Broadcast, KeyRange, SigningKey};
use dipsea::{BroadcastReport, Swarm, SwarmConfig};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn print(label: &str, beta: usize, live: usize, r: &BroadcastReport, wall: Duration) {
    println!(
        "{label:<14} beta {beta}: coverage {:.4}% ({} of {}), messages/node {:.3}, \
         acks/node {:.3}, duplicates {}, depth {} (mean {:.2}), time to full delivery {:?}, \
         rescue lookups {} ({} queries, {:.3}/node), wall {wall:.1?}",
        100.0 * r.coverage,
        r.delivered,
        r.in_range,
        r.messages as f64 / live as f64,
        r.acks as f64 / live as f64,
        r.duplicates,
        r.max_depth,
        r.mean_depth,
        r.time_to_full,
        r.rescue_lookups,
        r.rescue_lookup_queries,
        r.rescue_lookup_queries as f64 / live as f64,
    );
}

/// Peak RSS (`/proc/self/status`, Linux) per node, and where a node's bytes are.
fn memory(swarm: &Swarm) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0);
    let live = swarm.live_nodes();
    let n = live.len().max(1);
    let (mut contacts, mut routing, mut speakers) = (0, 0, 0);
    for node in live.iter().filter_map(|&i| swarm.node(i as usize)) {
        contacts += node.routing().len();
        routing += node.routing().heap_bytes();
        speakers += node.broadcast_stats().speakers;
    }
    println!(
        "memory: peak RSS {peak_kb} KiB ({} B per node); per node {} contacts, {} B routing heap, \
         {} push speakers, {} B estimated in all",
        peak_kb * 1024 / n as u64,
        contacts / n,
        routing / n,
        speakers / n,
        swarm.stats().memory_per_node,
    );
}

/// Multicasts to 1/256 of the key space (the first byte of a random live node's
/// id), beta 1 to 3, each reporting the messages sent to live nodes elsewhere.
fn multicasts(
    swarm: &mut Swarm,
    run_in: &mut impl FnMut(&mut Swarm, &str, usize, KeyRange) -> BroadcastReport,
) {
    for beta in 1..=3 {
        let node = swarm.random_live().expect("a live node");
        let prefix = swarm.node(node).expect("live").id().as_bytes()[0];
        let range = KeyRange::from_hex(&format!("{prefix:02x}")).expect("a range");
        let r = run_in(swarm, "multicast 1/256", beta, range);
        println!(
            "  range {range}: {} of {} nodes in it; {} of {} messages elsewhere ({:.2}%), \
             lookup into the range {} datagrams",
            r.delivered,
            r.in_range,
            r.messages_elsewhere,
            r.messages,
            100.0 * r.messages_elsewhere as f64 / r.messages.max(1) as f64,
            r.lookup_messages
        );
    }
}

fn main() {
    let nodes = env("SIM_NODES", 1_000_000) as usize;
    let seed = env("SIM_SEED", 1);
    let key = SigningKey::from_bytes(&[42; 32]);
    let mut config = SwarmConfig {
        nodes,
        seed,
        threads: env("SIM_THREADS", SwarmConfig::default().threads as u64) as usize,
        ..SwarmConfig::default()
    };
    config.node.broadcast.accept =
        AcceptPolicy::Allowed(HashSet::from([key.verifying_key().to_bytes()]));
    let refresh = Duration::from_secs(60 * env("SIM_REFRESH_MINUTES", 20));
    let crash = std::env::var("SIM_CRASH").unwrap_or_else(|_| "rebuild".into());
    let started = Instant::now();
    let build = || {
        let mut swarm = Swarm::new(config.clone()).expect("a valid configuration");
        swarm.advance(refresh);
        swarm
    };
    let mut swarm = build();
    println!(
        "broadcast bench: {nodes} nodes, seed {seed}, {} threads, built and advanced {refresh:?} \
         in {:.1?}",
        config.threads,
        started.elapsed()
    );
    memory(&swarm);
    let settle = Duration::from_secs(env("SIM_SETTLE_SECS", 60));
    let mut seq = 0;
    let mut run_in = |swarm: &mut Swarm, label: &str, beta: usize, range: KeyRange| {
        seq += 1;
        let b = Broadcast::sign(&key, seq, range, b"bench").expect("signed");
        let from = swarm.random_live().expect("a live node");
        let wall = Instant::now();
        let r = swarm.broadcast_from(from, b, beta, settle);
        let live = if range == KeyRange::ALL {
            swarm.live()
        } else {
            r.in_range
        };
        print(label, beta, live, &r, wall.elapsed());
        r
    };
    if let Some(beta) = crash.strip_prefix("only:") {
        // One crash case alone, on the network right after its build and refresh
        // (and the multicasts, with `SIM_MULTICAST=1`).
        let beta = beta.parse().expect("SIM_CRASH=only:BETA");
        if env("SIM_MULTICAST", 0) == 1 {
            multicasts(&mut swarm, &mut run_in);
        }
        swarm.crash(0.3).expect("a valid fraction");
        run_in(&mut swarm, "30% crashed", beta, KeyRange::ALL);
        memory(&swarm);
        println!("wall time {:.1?}", started.elapsed());
        return;
    }
    for beta in 1..=3 {
        run_in(&mut swarm, "static", beta, KeyRange::ALL);
    }
    multicasts(&mut swarm, &mut run_in);
    swarm.set_loss(0.1).expect("a valid loss");
    for beta in 1..=3 {
        run_in(&mut swarm, "10% loss", beta, KeyRange::ALL);
    }
    match crash.as_str() {
        "skip" => {}
        "once" => {
            swarm.set_loss(0.0).expect("a valid loss");
            swarm.crash(0.3).expect("a valid fraction");
            run_in(&mut swarm, "30% crashed", 2, KeyRange::ALL);
            memory(&swarm);
        }
        _ => {
            drop(swarm);
            for beta in 1..=3 {
                let mut swarm = build();
                swarm.crash(0.3).expect("a valid fraction");
                run_in(&mut swarm, "30% crashed", beta, KeyRange::ALL);
            }
        }
    }
    println!("wall time {:.1?}", started.elapsed());
}
