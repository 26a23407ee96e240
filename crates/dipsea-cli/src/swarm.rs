//! `dipsea swarm`: the simulator end to end. Builds a network of N nodes by real joins
//! (with a progress bar), puts M values from random nodes, optionally crashes a
//! fraction of the nodes, gets every stored value back from random nodes, and prints
//! a summary table or one JSON object.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};

use dipsea::{Id, Swarm, SwarmConfig, SwarmStats};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::{Failure, Outcome, SwarmArgs};

/// What `dipsea swarm` reports: the run's parameters, the phase counts, and the
/// simulator's [`SwarmStats`] flattened (same field names).
#[derive(Debug, Serialize)]
struct Summary {
    seed: u64,
    loss: f64,
    crash: f64,
    /// Values put.
    puts: usize,
    /// Puts that at least one node stored.
    puts_ok: usize,
    /// Gets run (one per stored value).
    gets: usize,
    /// Gets that returned the value that was put.
    gets_ok: usize,
    /// Nodes crashed between the puts and the gets.
    crashed: usize,
    // SwarmStats, field by field.
    nodes: usize,
    live: usize,
    ops: u64,
    ops_ok: u64,
    success_rate: f64,
    rounds_p50: f64,
    rounds_p99: f64,
    messages_per_lookup_p50: f64,
    messages_per_lookup_p99: f64,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    bytes_sent: u64,
    packets_sent: u64,
    packets_lost: u64,
    memory_per_node: usize,
    /// The process's peak resident set size (Linux `VmHWM`; 0 elsewhere), in bytes.
    peak_rss: u64,
    /// `peak_rss` divided by the nodes ever created.
    peak_rss_per_node: u64,
    build_wall_ms: u64,
    wall_ms: u64,
    virtual_ms: u64,
}

/// Runs `dipsea swarm`.
pub fn run(args: SwarmArgs) -> Outcome {
    if args.overlay == crate::swarm_onehop::Overlay::OneHop {
        return crate::swarm_onehop::run(&args);
    }
    let started = Instant::now();
    let mut config = SwarmConfig {
        nodes: args.nodes,
        seed: args.seed,
        loss: args.loss,
        ..SwarmConfig::default()
    };
    if let Some(threads) = args.threads {
        config.threads = threads;
    }

    let bar = progress(args.nodes as u64, "joining");
    let mut swarm = Swarm::with_progress(config, &mut |joined, total| {
        bar.set_length(total as u64);
        bar.set_position(joined as u64);
    })
    .map_err(|e| Failure::usage(e.to_string()))?;
    bar.finish_and_clear();

    // Puts, then gets, each phase in batches of `concurrency` operations started at
    // once from random live nodes.
    let batch = args.concurrency.max(1);
    let bar = progress(args.ops as u64, "putting");
    let values: Vec<Vec<u8>> = (0..args.ops).map(|i| value_of(args.seed, i)).collect();
    let mut stored: Vec<(Id, &[u8])> = Vec::with_capacity(args.ops);
    for chunk in values.chunks(batch) {
        for (result, value) in swarm.put_many(chunk).into_iter().zip(chunk) {
            match result {
                Ok(put) if put.stored > 0 => stored.push((put.key, value)),
                other => tracing::debug!(result = ?other, "put failed"),
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();

    let crashed = if args.crash > 0.0 {
        swarm
            .crash(args.crash)
            .map_err(|e| Failure::usage(e.to_string()))?
    } else {
        0
    };

    let bar = progress(stored.len() as u64, "getting");
    let mut gets_ok = 0;
    for chunk in stored.chunks(batch) {
        let keys: Vec<Id> = chunk.iter().map(|(key, _)| *key).collect();
        for (result, (key, value)) in swarm.get_many(&keys).into_iter().zip(chunk) {
            match result {
                Ok(Some(found)) if found == *value => gets_ok += 1,
                other => tracing::debug!(%key, result = ?other, "get failed"),
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();

    let mut stats = swarm.stats();
    // The wall time of the whole command, not just of the swarm's life.
    stats.wall_ms = millis(started.elapsed());
    let summary = summarize(&args, stored.len(), gets_ok, crashed, stats);
    let text = if args.json {
        let mut json = serde_json::to_string(&summary)
            .map_err(|e| Failure::failed(format!("cannot encode the summary: {e}")))?;
        json.push('\n');
        json
    } else {
        table(&summary)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::failed(format!("cannot write to stdout: {e}")))
}

/// The value put number `i`: distinct per run and per seed.
fn value_of(seed: u64, i: usize) -> Vec<u8> {
    format!("dipsea swarm value {i} of seed {seed}").into_bytes()
}

/// A progress bar on stderr (drawn only when stderr is a terminal).
fn progress(len: u64, what: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} ({elapsed}, {eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(what);
    bar
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn summarize(
    args: &SwarmArgs,
    puts_ok: usize,
    gets_ok: usize,
    crashed: usize,
    s: SwarmStats,
) -> Summary {
    Summary {
        seed: args.seed,
        loss: args.loss,
        crash: args.crash,
        puts: args.ops,
        puts_ok,
        gets: puts_ok,
        gets_ok,
        crashed,
        nodes: s.nodes,
        live: s.live,
        ops: s.ops,
        ops_ok: s.ops_ok,
        success_rate: s.success_rate,
        rounds_p50: s.rounds_p50,
        rounds_p99: s.rounds_p99,
        messages_per_lookup_p50: s.messages_per_lookup_p50,
        messages_per_lookup_p99: s.messages_per_lookup_p99,
        latency_p50_ms: s.latency_p50_ms,
        latency_p99_ms: s.latency_p99_ms,
        bytes_sent: s.bytes_sent,
        packets_sent: s.packets_sent,
        packets_lost: s.packets_lost,
        memory_per_node: s.memory_per_node,
        peak_rss: peak_rss(),
        peak_rss_per_node: peak_rss() / s.nodes.max(1) as u64,
        build_wall_ms: s.build_wall_ms,
        wall_ms: s.wall_ms,
        virtual_ms: s.virtual_ms,
    }
}

/// The human-readable summary.
fn table(s: &Summary) -> String {
    let mut t = String::new();
    let pct = |x: f64| format!("{:.2} %", x * 100.0);
    let mut row = |name: &str, value: String| {
        let _ = writeln!(t, "  {name:<22}{value}");
    };
    row(
        "network",
        format!(
            "{} nodes ({} live), seed {}, loss {}, crashed {}",
            s.nodes,
            s.live,
            s.seed,
            pct(s.loss),
            s.crashed
        ),
    );
    row("puts stored", format!("{} of {}", s.puts_ok, s.puts));
    row("gets found", format!("{} of {}", s.gets_ok, s.gets));
    row(
        "success",
        format!(
            "{} ({} of {} operations)",
            pct(s.success_rate),
            s.ops_ok,
            s.ops
        ),
    );
    row(
        "rounds per lookup",
        format!("p50 {}  p99 {}", s.rounds_p50, s.rounds_p99),
    );
    row(
        "messages per lookup",
        format!(
            "p50 {}  p99 {}",
            s.messages_per_lookup_p50, s.messages_per_lookup_p99
        ),
    );
    row(
        "latency (virtual)",
        format!("p50 {} ms  p99 {} ms", s.latency_p50_ms, s.latency_p99_ms),
    );
    row(
        "traffic",
        format!(
            "{} packets, {}, {} lost",
            s.packets_sent,
            bytes(s.bytes_sent),
            s.packets_lost
        ),
    );
    row(
        "memory per node",
        format!(
            "{} estimated, {} peak RSS ({} in all)",
            bytes(s.memory_per_node as u64),
            bytes(s.peak_rss_per_node),
            bytes(s.peak_rss)
        ),
    );
    row(
        "virtual time",
        format!("{:.1} s", s.virtual_ms as f64 / 1000.0),
    );
    row(
        "wall time",
        format!(
            "{:.1} s (building {:.1} s)",
            s.wall_ms as f64 / 1000.0,
            s.build_wall_ms as f64 / 1000.0
        ),
    );
    format!("dipsea swarm\n{t}")
}

/// The peak resident set size of this process so far, in bytes (`VmHWM` of
/// `/proc/self/status`; 0 where there is none).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Bytes in binary units.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
    }

    #[test]
    fn values_differ_by_index_and_seed() {
        assert_ne!(value_of(1, 0), value_of(1, 1));
        assert_ne!(value_of(1, 0), value_of(2, 0));
    }
}
