//! `dipsea_onehop`: the one-hop overlay simulator (the core's `sim::onehop`): members
//! that all know each other, requests straight to the owners a partitioner names.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use dipsea::sim::{OneHopConfig, OneHopStats, OneHopSwarm};

use crate::error::{dipsea_status, Failure};
use crate::ffi::{arg, boundary, out, write_out};
use crate::keyspace::DIPSEA_PARTITIONER_RENDEZVOUS;

/// How dipsea_onehop_new builds a one-hop network. A plain value: fill it with
/// dipsea_onehop_config_default, then change the fields you need.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct dipsea_onehop_config {
    /// Members at the start (default 2000).
    pub nodes: usize,
    /// Seed of every random choice (default 0).
    pub seed: u64,
    /// DIPSEA_PARTITIONER_XOR, _RING or _RENDEZVOUS (default).
    pub partitioner: u32,
    /// The ring's virtual nodes per member (0: the default, 64).
    pub vnodes: usize,
    /// Owners of each key (default 3; at most `nodes`).
    pub replicas: usize,
    /// Probability that a datagram is lost, 0 to 1 (default 0).
    pub loss: f64,
    /// Median session of churn in ms, each departure replaced (0: no churn, the
    /// default).
    pub session_ms: u64,
}

/// A summary of a one-hop run (dipsea_onehop_stats). A plain value.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct dipsea_onehop_summary {
    /// Members now.
    pub live: u64,
    /// Gets run, and those that found the value.
    pub gets: u64,
    /// Gets that found the value.
    pub gets_ok: u64,
    /// Puts run.
    pub puts: u64,
    /// Puts stored on at least one owner.
    pub puts_ok: u64,
    /// Successful operations over all operations.
    pub success_rate: f64,
    /// Fraction of gets answered in one round trip.
    pub one_round_gets: f64,
    /// Mean queries per get.
    pub messages_per_get: f64,
    /// Mean queries per put.
    pub messages_per_put: f64,
    /// Membership events (joins and departures).
    pub membership_events: u64,
    /// Membership bytes per member per second of virtual time.
    pub membership_bytes_per_node_per_s: f64,
    /// Estimated simulator bytes per member.
    pub memory_per_node: u64,
}

impl From<&OneHopStats> for dipsea_onehop_summary {
    fn from(s: &OneHopStats) -> Self {
        dipsea_onehop_summary {
            live: s.live as u64,
            gets: s.gets,
            gets_ok: s.gets_ok,
            puts: s.puts,
            puts_ok: s.puts_ok,
            success_rate: s.success_rate,
            one_round_gets: s.one_round_gets,
            messages_per_get: s.messages_per_get,
            messages_per_put: s.messages_per_put,
            membership_events: s.membership_events,
            membership_bytes_per_node_per_s: s.membership_bytes_per_node_per_s,
            memory_per_node: s.memory_per_node as u64,
        }
    }
}

/// Opaque: a simulated one-hop network (dipsea_onehop_new), released by
/// dipsea_onehop_free. Calls on one run one at a time.
pub struct dipsea_onehop {
    inner: Mutex<OneHopSwarm>,
}

impl dipsea_onehop {
    fn lock(&self) -> Result<MutexGuard<'_, OneHopSwarm>, Failure> {
        self.inner.lock().map_err(|_| {
            Failure::new(
                dipsea_status::DIPSEA_PANIC,
                "an earlier call on this simulation panicked; free it and build a new one",
            )
        })
    }
}

/// Fills `*out_config` with the defaults: 2000 members, seed 0, rendezvous, 3
/// replicas, no loss, no churn.
///
/// Threads: any thread. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_onehop_config_default(
    out_config: *mut dipsea_onehop_config,
) -> dipsea_status {
    boundary(|| {
        let out_config = out(out_config, "out_config")?;
        let d = OneHopConfig::default();
        let config = dipsea_onehop_config {
            nodes: d.nodes,
            seed: d.seed,
            partitioner: DIPSEA_PARTITIONER_RENDEZVOUS,
            vnodes: 0,
            replicas: d.replicas,
            loss: d.loss,
            session_ms: 0,
        };
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_config, config) };
        Ok(())
    })
}

/// Builds a one-hop network of `config->nodes` members that all know each other.
///
/// Ownership: `config` is only read; `*out_onehop` is yours: release it with
/// dipsea_onehop_free. Threads: any thread.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_BAD_INPUT for no members, no
/// replicas or more replicas than members, an unknown partitioner, a ring's vnodes
/// over 4096, or `loss` not in 0..1.
#[no_mangle]
pub unsafe extern "C" fn dipsea_onehop_new(
    config: *const dipsea_onehop_config,
    out_onehop: *mut *mut dipsea_onehop,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: NULL or a valid config, by this function's contract.
        let c = unsafe { arg(config, "config") }?;
        let out_onehop = out(out_onehop, "out_onehop")?;
        let scheme = crate::keyspace::scheme(c.partitioner, c.vnodes)?;
        let config = OneHopConfig {
            nodes: c.nodes,
            seed: c.seed,
            scheme,
            replicas: c.replicas,
            loss: c.loss,
            churn_median_session: (c.session_ms > 0).then(|| Duration::from_millis(c.session_ms)),
            ..OneHopConfig::default()
        };
        let onehop = Box::new(dipsea_onehop {
            inner: Mutex::new(OneHopSwarm::new(config)?),
        });
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_onehop, Box::into_raw(onehop)) };
        Ok(())
    })
}

/// Releases a one-hop simulation. NULL: a no-op.
///
/// Threads: any thread, once no other thread uses it. Statuses: DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_onehop_free(onehop: *mut dipsea_onehop) -> dipsea_status {
    boundary(|| {
        if !onehop.is_null() {
            // SAFETY: non-NULL, made by dipsea_onehop_new, freed once (contract).
            drop(unsafe { Box::from_raw(onehop) });
        }
        Ok(())
    })
}

/// Puts `ops` items from random members spread over `spread_ms` of virtual time,
/// then gets each of them the same way.
///
/// Threads: see dipsea_onehop. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_onehop_run(
    onehop: *const dipsea_onehop,
    ops: usize,
    spread_ms: u64,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let onehop = unsafe { arg(onehop, "onehop") }?;
        onehop.lock()?.run(ops, Duration::from_millis(spread_ms));
        Ok(())
    })
}

/// Runs virtual time forward by `ms` milliseconds (broadcasts, digests, churn).
///
/// Threads: see dipsea_onehop. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_onehop_advance(
    onehop: *const dipsea_onehop,
    ms: u64,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let onehop = unsafe { arg(onehop, "onehop") }?;
        onehop.lock()?.advance(Duration::from_millis(ms));
        Ok(())
    })
}

/// Writes a summary of the run to `*out_stats`.
///
/// Threads: see dipsea_onehop. Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn dipsea_onehop_stats(
    onehop: *const dipsea_onehop,
    out_stats: *mut dipsea_onehop_summary,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let onehop = unsafe { arg(onehop, "onehop") }?;
        let out_stats = out(out_stats, "out_stats")?;
        let stats = dipsea_onehop_summary::from(&onehop.lock()?.stats());
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_stats, stats) };
        Ok(())
    })
}
