//! `dipsea_swarm`: the deterministic simulator, a seeded virtual-time network of many
//! nodes in one process, running Kademlia or one-hop nodes, for tests, benchmarks
//! and demos. Its subscriptions are in `swarm_subscribe`.

use std::ffi::c_char;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use dipsea::onehop::{OneHopConfig, Overlay};
use dipsea::{Id, Latency, Swarm, SwarmConfig, SwarmStats};

use crate::buffer::dipsea_buffer;
use crate::error::{dipsea_status, Failure};
use crate::ffi::{arg, boundary, bytes_arg, out, str_arg, write_out};
use crate::id::dipsea_id;
use crate::keyspace::DIPSEA_PARTITIONER_RENDEZVOUS;

/// dipsea_swarm_config.latency_kind: every link has `latency_low_ms`.
pub const DIPSEA_LATENCY_CONSTANT: u32 = 0;
/// dipsea_swarm_config.latency_kind: each link's latency is uniform between
/// `latency_low_ms` and `latency_high_ms` (the default, 10 to 100 ms).
pub const DIPSEA_LATENCY_UNIFORM: u32 = 1;
/// dipsea_swarm_config.latency_kind: log-normal link latencies with median
/// `latency_low_ms` and 99th percentile `latency_high_ms`, as measured on the Internet.
pub const DIPSEA_LATENCY_LONG_TAIL: u32 = 2;

/// dipsea_swarm_config.overlay: every node runs Kademlia (the default).
pub const DIPSEA_OVERLAY_KADEMLIA: u32 = 0;
/// dipsea_swarm_config.overlay: every node is a one-hop node: it keeps the full
/// member list, and a get or put goes straight to the key's `replicas` owners that
/// `partitioner` names, in one round trip.
pub const DIPSEA_OVERLAY_ONE_HOP: u32 = 1;

/// How dipsea_swarm_new builds a simulated network. A plain value: fill it with
/// dipsea_swarm_config_default, then change the fields you need (later versions may
/// add fields, which the default fills in).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct dipsea_swarm_config {
    /// Nodes to build the network with, by real joins (default 1000, at least 1).
    pub nodes: usize,
    /// Seed of every random choice: the same seed and calls give the same results
    /// (default 0).
    pub seed: u64,
    /// One of DIPSEA_LATENCY_CONSTANT, DIPSEA_LATENCY_UNIFORM (default),
    /// DIPSEA_LATENCY_LONG_TAIL.
    pub latency_kind: u32,
    /// The constant latency, the uniform minimum, or the long-tail median, in ms
    /// (default 10).
    pub latency_low_ms: u32,
    /// The uniform maximum or the long-tail 99th percentile, in ms; unused for a
    /// constant latency (default 100).
    pub latency_high_ms: u32,
    /// Probability that a datagram is lost, 0 to 1 (default 0).
    pub loss: f64,
    /// Bucket size and replication factor of every node (default 8).
    pub k: usize,
    /// Lookup parallelism of every node (default 3).
    pub alpha: usize,
    /// DIPSEA_OVERLAY_KADEMLIA (default) or DIPSEA_OVERLAY_ONE_HOP. A one-hop
    /// swarm's nodes are members of the private network `network` and accept every
    /// correctly signed broadcast, which is how membership travels.
    pub overlay: u32,
    /// One-hop only: DIPSEA_PARTITIONER_RENDEZVOUS (default), _RING or _XOR, the
    /// rule that names a key's owners among the members. Ignored with Kademlia.
    pub partitioner: u32,
    /// One-hop with DIPSEA_PARTITIONER_RING only: virtual nodes per member, 1 to
    /// 4096, or 0 for DIPSEA_PARTITIONER_DEFAULT_VNODES (default 0).
    pub vnodes: usize,
    /// One-hop only: owners (replicas) of each key, at least 1 (default 3). Ignored
    /// with Kademlia.
    pub replicas: usize,
    /// The name of the private network every node is a member of (1 to 255 bytes of
    /// UTF-8), or NULL (default): no private network for Kademlia nodes, the one
    /// called "sim-cluster" for one-hop nodes. Borrowed: read by dipsea_swarm_new
    /// only.
    pub network: *const c_char,
    /// Threads that run the nodes, 1 to 64, or 0 (default): the machine's cores, at
    /// most 8. The results do not depend on it.
    pub threads: usize,
}

/// A summary of a swarm (dipsea_swarm_stats): its network and the operations run
/// through dipsea_swarm_put and dipsea_swarm_get. A plain value. Every field except
/// `build_wall_ms` and `wall_ms` depends only on the seed and the calls made.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct dipsea_swarm_summary {
    /// Nodes ever created (live or not).
    pub nodes: u64,
    /// Nodes running now.
    pub live: u64,
    /// Operations finished.
    pub ops: u64,
    /// Operations that succeeded (for a get: a value found).
    pub ops_ok: u64,
    /// `ops_ok / ops` (1.0 when no operation ran).
    pub success_rate: f64,
    /// Median lookup rounds.
    pub rounds_p50: f64,
    /// 99th-percentile lookup rounds.
    pub rounds_p99: f64,
    /// Median queries one operation sent.
    pub messages_per_lookup_p50: f64,
    /// 99th percentile of the queries one operation sent.
    pub messages_per_lookup_p99: f64,
    /// Median virtual time of an operation, in ms.
    pub latency_p50_ms: f64,
    /// 99th-percentile virtual time of an operation, in ms.
    pub latency_p99_ms: f64,
    /// Bytes of all datagrams sent (maintenance included).
    pub bytes_sent: u64,
    /// Datagrams sent.
    pub packets_sent: u64,
    /// Datagrams that never reached a live node (loss, partition, node down).
    pub packets_lost: u64,
    /// Estimated bytes per live node (deterministic accounting, not RSS).
    pub memory_per_node: u64,
    /// Wall-clock time it took to build the network, in ms.
    pub build_wall_ms: u64,
    /// Wall-clock time since the swarm was created, in ms.
    pub wall_ms: u64,
    /// Virtual time since the swarm was created, in ms.
    pub virtual_ms: u64,
}

impl From<&SwarmStats> for dipsea_swarm_summary {
    fn from(s: &SwarmStats) -> dipsea_swarm_summary {
        let wide = |n: usize| n as u64;
        dipsea_swarm_summary {
            nodes: wide(s.nodes),
            live: wide(s.live),
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
            memory_per_node: wide(s.memory_per_node),
            build_wall_ms: s.build_wall_ms,
            wall_ms: s.wall_ms,
            virtual_ms: s.virtual_ms,
        }
    }
}

/// Opaque: a simulated network (dipsea_swarm_new), released by dipsea_swarm_free.
///
/// Threads: any thread may call it; calls on one swarm run one at a time (a second
/// caller waits), each on the simulator's own threads (`threads` of its config).
pub struct dipsea_swarm {
    inner: Mutex<Swarm>,
}

impl dipsea_swarm {
    /// The swarm, for one call. A swarm whose earlier call panicked is refused: its
    /// state may be half-updated.
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, Swarm>, Failure> {
        self.inner.lock().map_err(|_| {
            Failure::new(
                dipsea_status::DIPSEA_PANIC,
                "an earlier call on this swarm panicked; free it and build a new one",
            )
        })
    }
}

/// Fills `*out_config` with the defaults: 1000 nodes, seed 0, uniform latency 10 to
/// 100 ms, no loss, k = 8, alpha = 3, Kademlia (with, for the one-hop overlay, the
/// rendezvous partitioner and 3 replicas), no network name.
///
/// Threads: any thread. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_config_default(
    out_config: *mut dipsea_swarm_config,
) -> dipsea_status {
    boundary(|| {
        let out_config = out(out_config, "out_config")?;
        let d = SwarmConfig::default();
        let (latency_kind, low, high) = match d.latency {
            Latency::Constant(ms) => (DIPSEA_LATENCY_CONSTANT, ms, ms),
            Latency::Uniform { min, max } => (DIPSEA_LATENCY_UNIFORM, min, max),
            Latency::LongTail { median, p99 } => (DIPSEA_LATENCY_LONG_TAIL, median, p99),
        };
        let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        let one_hop = OneHopConfig::default();
        let config = dipsea_swarm_config {
            nodes: d.nodes,
            seed: d.seed,
            latency_kind,
            latency_low_ms: ms(low),
            latency_high_ms: ms(high),
            loss: d.loss,
            k: d.node.lookup.k,
            alpha: d.node.lookup.alpha,
            overlay: DIPSEA_OVERLAY_KADEMLIA,
            partitioner: DIPSEA_PARTITIONER_RENDEZVOUS,
            vnodes: 0,
            replicas: one_hop.replicas,
            network: std::ptr::null(),
            threads: 0,
        };
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_config, config) };
        Ok(())
    })
}

/// The overlay a config asks for.
fn overlay(c: &dipsea_swarm_config) -> Result<Overlay, Failure> {
    match c.overlay {
        DIPSEA_OVERLAY_KADEMLIA => Ok(Overlay::Kademlia),
        DIPSEA_OVERLAY_ONE_HOP => Ok(Overlay::OneHop(OneHopConfig {
            partitioner: crate::keyspace::scheme(c.partitioner, c.vnodes)?,
            replicas: c.replicas,
            ..OneHopConfig::default()
        })),
        other => Err(Failure::invalid(format!(
            "unknown overlay {other}: expected DIPSEA_OVERLAY_KADEMLIA or \
             DIPSEA_OVERLAY_ONE_HOP"
        ))),
    }
}

/// The core's configuration of a C config.
///
/// # Safety
/// `c.network` is NULL or a NUL-terminated string.
unsafe fn swarm_config(c: &dipsea_swarm_config) -> Result<SwarmConfig, Failure> {
    let low = Duration::from_millis(c.latency_low_ms.into());
    let high = Duration::from_millis(c.latency_high_ms.into());
    let latency = match c.latency_kind {
        DIPSEA_LATENCY_CONSTANT => Latency::Constant(low),
        DIPSEA_LATENCY_UNIFORM => Latency::Uniform {
            min: low,
            max: high,
        },
        DIPSEA_LATENCY_LONG_TAIL => Latency::LongTail {
            median: low,
            p99: high,
        },
        other => return Err(Failure::invalid(format!("unknown latency_kind {other}"))),
    };
    let mut node = SwarmConfig::default_node_config();
    node.set_k(c.k);
    node.lookup.alpha = c.alpha;
    let mut config = SwarmConfig {
        nodes: c.nodes,
        seed: c.seed,
        latency,
        loss: c.loss,
        node,
        ..SwarmConfig::default()
    };
    if c.threads != 0 {
        config.threads = c.threads;
    }
    let network = if c.network.is_null() {
        None
    } else {
        // SAFETY: non-NULL, NUL-terminated by the caller's contract.
        Some(unsafe { str_arg(c.network, "config->network") }?)
    };
    config.set_overlay(overlay(c)?, network)?;
    Ok(config)
}

/// Builds a simulated network: `config->nodes` nodes join one by one through nodes
/// already in, in virtual time (a thousand nodes take well under a second; a million
/// take minutes and gigabytes). Blocks until it is built.
///
/// Ownership: `config` is only read; `*out_swarm` is yours: release it with
/// dipsea_swarm_free. Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_BAD_INPUT if `nodes`,
/// `k` or `alpha` is 0, `latency_kind` or `overlay` is unknown, `loss` is not in
/// 0..1, `network` is not UTF-8, empty or over 255 bytes, or (one-hop) the
/// partitioner is unknown, a ring's `vnodes` is over 4096 or `replicas` is 0.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_new(
    config: *const dipsea_swarm_config,
    out_swarm: *mut *mut dipsea_swarm,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a valid config whose `network` is NULL or a string, by
        // this function's contract.
        let config = unsafe { swarm_config(arg(config, "config")?) }?;
        let out_swarm = out(out_swarm, "out_swarm")?;
        let swarm = Box::new(dipsea_swarm {
            inner: Mutex::new(Swarm::new(config)?),
        });
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_swarm, Box::into_raw(swarm)) };
        Ok(())
    })
}

/// Releases a swarm and every simulated node. NULL: a no-op.
///
/// Threads: any thread, once no other thread uses the swarm. Statuses: DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_free(swarm: *mut dipsea_swarm) -> dipsea_status {
    boundary(|| {
        if !swarm.is_null() {
            // SAFETY: non-NULL, made by dipsea_swarm_new, freed once (contract).
            drop(unsafe { Box::from_raw(swarm) });
        }
        Ok(())
    })
}

/// Borrows a swarm argument.
///
/// # Safety
/// `swarm` is NULL or a live swarm.
pub(crate) unsafe fn swarm_arg<'a>(
    swarm: *const dipsea_swarm,
) -> Result<&'a dipsea_swarm, Failure> {
    // SAFETY: the caller's contract.
    unsafe { arg(swarm, "swarm") }
}

/// Puts an immutable item from a random live node (like dipsea_node_put) and runs
/// virtual time until it is stored; writes its key to `*out_key`.
///
/// Ownership: `value` is borrowed for the call (NULL allowed when `value_len` is 0).
/// Threads: see dipsea_swarm.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_BAD_INPUT (value over
/// 1000 bytes bencoded); DIPSEA_NO_ROUTE (no live node), DIPSEA_TIMEOUT,
/// DIPSEA_NOT_STORED, DIPSEA_BUSY, DIPSEA_SHUTDOWN.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_put(
    swarm: *const dipsea_swarm,
    value: *const u8,
    value_len: usize,
    out_key: *mut dipsea_id,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        // SAFETY: NULL or `value_len` readable bytes, by contract.
        let value = unsafe { bytes_arg(value, value_len, "value") }?;
        let out_key = out(out_key, "out_key")?;
        let put = swarm.lock()?.put(value)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_key, put.key.into()) };
        Ok(())
    })
}

/// Gets the immutable item `*key` from a random live node and writes its value into
/// `*out_value`.
///
/// Ownership: `*out_value` is yours on DIPSEA_OK: release it with dipsea_buffer_free.
/// Threads: see dipsea_swarm.
/// Statuses: DIPSEA_OK; DIPSEA_NOT_FOUND if no node holds it; DIPSEA_NULL_ARGUMENT;
/// DIPSEA_NO_ROUTE, DIPSEA_TIMEOUT, DIPSEA_BUSY, DIPSEA_SHUTDOWN.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_get(
    swarm: *const dipsea_swarm,
    key: *const dipsea_id,
    out_value: *mut dipsea_buffer,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        // SAFETY: NULL or a valid id, by contract.
        let key = Id::from(*unsafe { arg(key, "key") }?);
        let out_value = out(out_value, "out_value")?;
        let value = swarm.lock()?.get(key)?.ok_or_else(|| {
            Failure::new(
                dipsea_status::DIPSEA_NOT_FOUND,
                format!("no node holds the item {key}"),
            )
        })?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_value, dipsea_buffer::from_vec(value)) };
        Ok(())
    })
}

/// Crashes `fraction` (0 to 1) of the live nodes, picked by the seed; their state is
/// gone at once and the others find out by timeouts. Writes how many crashed to
/// `*out_crashed`.
///
/// Threads: see dipsea_swarm.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_BAD_INPUT if `fraction`
/// is not in 0..1.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_crash(
    swarm: *const dipsea_swarm,
    fraction: f64,
    out_crashed: *mut usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        let out_crashed = out(out_crashed, "out_crashed")?;
        let crashed = swarm.lock()?.crash(fraction)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_crashed, crashed) };
        Ok(())
    })
}

/// Sets the probability that a datagram is lost, from now on (0 to 1).
///
/// Threads: see dipsea_swarm.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_BAD_INPUT if `loss` is not
/// in 0..1.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_set_loss(
    swarm: *const dipsea_swarm,
    loss: f64,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        swarm.lock()?.set_loss(loss)?;
        Ok(())
    })
}

/// Splits the live nodes in two groups, `fraction` (0 to 1) of them, picked by the
/// seed, in the second: no datagram crosses between the groups until
/// dipsea_swarm_heal.
///
/// Threads: see dipsea_swarm.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_BAD_INPUT if `fraction`
/// is not in 0..1.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_partition(
    swarm: *const dipsea_swarm,
    fraction: f64,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        swarm.lock()?.partition(fraction)?;
        Ok(())
    })
}

/// Lifts the partition made by dipsea_swarm_partition (no effect without one).
///
/// Threads: see dipsea_swarm. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_heal(swarm: *const dipsea_swarm) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        swarm.lock()?.heal();
        Ok(())
    })
}

/// A new node joins through a random live node, and virtual time runs until its
/// bootstrap is over; writes its index (0-based, in order of creation) to
/// `*out_index`.
///
/// Threads: see dipsea_swarm. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_join(
    swarm: *const dipsea_swarm,
    out_index: *mut usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        let out_index = out(out_index, "out_index")?;
        let index = swarm.lock()?.join();
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_index, index) };
        Ok(())
    })
}

/// Runs virtual time forward by `ms` milliseconds: maintenance, bucket refreshes,
/// re-publishing and expiry happen as they would.
///
/// Threads: see dipsea_swarm. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_advance(
    swarm: *const dipsea_swarm,
    ms: u64,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        swarm.lock()?.advance(Duration::from_millis(ms));
        Ok(())
    })
}

/// Writes a summary of the swarm to `*out_stats`.
///
/// Threads: see dipsea_swarm. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_stats(
    swarm: *const dipsea_swarm,
    out_stats: *mut dipsea_swarm_summary,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        let out_stats = out(out_stats, "out_stats")?;
        let stats = dipsea_swarm_summary::from(&swarm.lock()?.stats());
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_stats, stats) };
        Ok(())
    })
}

/// Writes whether node `index` (0-based, in order of creation: the first nodes are 0
/// to `nodes - 1`, then each dipsea_swarm_join's) is running to `*out_live`: false
/// once it crashed or left, and for an index no node has.
///
/// Threads: see dipsea_swarm. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_is_live(
    swarm: *const dipsea_swarm,
    index: usize,
    out_live: *mut bool,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        let out_live = out(out_live, "out_live")?;
        let live = swarm.lock()?.is_live(index);
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_live, live) };
        Ok(())
    })
}

/// Forgets the operations behind dipsea_swarm_summary's `ops`, `ops_ok`,
/// `success_rate` and percentiles (the traffic counters go on), to measure one phase
/// alone, e.g. the gets after the puts.
///
/// Threads: see dipsea_swarm. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_swarm_reset_ops(swarm: *const dipsea_swarm) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let swarm = unsafe { swarm_arg(swarm) }?;
        swarm.lock()?.reset_ops();
        Ok(())
    })
}
