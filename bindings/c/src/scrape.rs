//! BEP 33 scrapes, BEP 51 samples and seed announces on a node:
//! dipsea_node_announce_as, dipsea_node_scrape (and `_async`),
//! dipsea_node_sample_infohashes.

use std::ffi::c_void;

use dipsea::{InfohashSamples, ScrapeEstimate};

use crate::buffer::dipsea_buffer;
use crate::error::dipsea_status;
use crate::ffi::{boundary, not_on_runtime, out, write_out};
use crate::id::dipsea_id;
use crate::node::{
    announce_port, callback_arg, dipsea_node, id_arg, node_arg, spawn_op, Completion,
};

/// Estimated seeds and peers of an info-hash (BEP 33), written by
/// dipsea_node_scrape: each counts distinct IPs, within about 1% up to a few
/// hundred.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct dipsea_scrape {
    /// Estimated seeds: peers that announced as seeds.
    pub seeds: f64,
    /// Estimated other peers (downloaders).
    pub peers: f64,
    /// How many of the closest nodes sent filters.
    pub responders: usize,
}

impl From<ScrapeEstimate> for dipsea_scrape {
    fn from(e: ScrapeEstimate) -> dipsea_scrape {
        dipsea_scrape {
            seeds: e.seeds,
            peers: e.peers,
            responders: e.responders,
        }
    }
}

/// Info-hashes sampled around a target (BEP 51), written by
/// dipsea_node_sample_infohashes.
///
/// Ownership: `info_hashes` is yours once written: release it with
/// dipsea_samples_free.
#[repr(C)]
#[derive(Debug)]
pub struct dipsea_samples {
    /// `count` info-hashes of DIPSEA_ID_LEN bytes each, back to back, each once.
    pub info_hashes: dipsea_buffer,
    /// How many info-hashes `info_hashes` holds.
    pub count: usize,
    /// Nodes that answered with samples.
    pub responders: usize,
    /// The largest number of info-hashes one answering node stores.
    pub num: u64,
    /// Seconds before the answering nodes sample for this address again.
    pub interval: u64,
}

impl From<InfohashSamples> for dipsea_samples {
    fn from(s: InfohashSamples) -> dipsea_samples {
        let mut bytes = Vec::with_capacity(s.info_hashes.len() * dipsea::ID_LEN);
        for id in &s.info_hashes {
            bytes.extend_from_slice(id.as_bytes());
        }
        dipsea_samples {
            info_hashes: dipsea_buffer::from_vec(bytes),
            count: s.info_hashes.len(),
            responders: s.responders,
            num: s.max_num,
            interval: s.interval,
        }
    }
}

/// Called once when dipsea_node_scrape_async finishes: `scrape` (DIPSEA_OK only,
/// else NULL) is borrowed for the call.
pub type dipsea_scrape_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        status: dipsea_status,
        scrape: *const dipsea_scrape,
    ),
>;

/// dipsea_node_announce, saying whether this host is a seed of the torrent (has
/// all of it: BEP 33 `seed`, which scrapes count apart): `seed` nonzero.
///
/// Threads: any thread except a dipsea runtime thread; blocks.
/// Statuses: as dipsea_node_announce.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_announce_as(
    node: *const dipsea_node,
    info_hash: *const dipsea_id,
    port: u16,
    seed: bool,
    out_stored: *mut usize,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: this function's contract.
        let info_hash = unsafe { id_arg(info_hash, "info_hash") }?;
        let out_stored = out(out_stored, "out_stored")?;
        not_on_runtime()?;
        let stored = node
            .inner
            .announce_as(info_hash, announce_port(port), seed)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_stored, stored) };
        Ok(())
    })
}

/// Estimates the seeds and peers of `*info_hash` (BEP 33 scrape: a `get_peers`
/// lookup with `scrape`, the bloom filters of the k closest nodes united) and
/// writes them to `*out_scrape`. An info-hash nobody announced is a success with
/// zero estimates.
///
/// Threads: any thread except a dipsea runtime thread; blocks.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_NO_ROUTE, DIPSEA_TIMEOUT,
/// DIPSEA_BUSY, DIPSEA_SHUTDOWN; DIPSEA_WRONG_THREAD inside a callback.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_scrape(
    node: *const dipsea_node,
    info_hash: *const dipsea_id,
    out_scrape: *mut dipsea_scrape,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: this function's contract.
        let info_hash = unsafe { id_arg(info_hash, "info_hash") }?;
        let out_scrape = out(out_scrape, "out_scrape")?;
        not_on_runtime()?;
        let estimate = node.inner.scrape(info_hash)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_scrape, dipsea_scrape::from(estimate)) };
        Ok(())
    })
}

/// dipsea_node_scrape without blocking: calls `callback(user_data, status, scrape)`
/// once when done.
///
/// Ownership: `*info_hash` is copied; `user_data` as in dipsea_node_bootstrap_async.
/// Threads and callback rules: as dipsea_node_bootstrap_async.
/// Statuses (returned): DIPSEA_OK (the callback will run); DIPSEA_NULL_ARGUMENT if
/// `node`, `info_hash` or `callback` is NULL (the callback will not run).
/// Statuses (to the callback): as dipsea_node_scrape.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_scrape_async(
    node: *const dipsea_node,
    info_hash: *const dipsea_id,
    callback: dipsea_scrape_callback,
    user_data: *mut c_void,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: this function's contract.
        let info_hash = unsafe { id_arg(info_hash, "info_hash") }?;
        let callback = callback_arg(callback)?;
        let completion =
            Completion::new(user_data, move |ud, status, s: Option<&dipsea_scrape>| {
                let ptr = s.map_or(std::ptr::null(), |s| s as *const dipsea_scrape);
                // SAFETY: the caller's callback, called once; `ptr` outlives the call.
                unsafe { callback(ud, status, ptr) }
            });
        let handle = node.inner.handle().clone();
        spawn_op(node, completion, async move {
            Ok(dipsea_scrape::from(handle.scrape(info_hash).await?))
        });
        Ok(())
    })
}

/// Asks the nodes around `*target` for samples of the info-hashes they store (BEP
/// 51 `sample_infohashes` along a lookup of `*target`) and writes what they sent to
/// `*out_samples`. A node answers one address once per interval (6 hours); walk
/// the keyspace with different targets to see more.
///
/// Ownership: `*out_samples` is yours on DIPSEA_OK: release it with
/// dipsea_samples_free. Threads: any thread except a dipsea runtime thread; blocks.
/// Statuses: DIPSEA_OK; DIPSEA_NULL_ARGUMENT; DIPSEA_NO_ROUTE, DIPSEA_TIMEOUT,
/// DIPSEA_BUSY, DIPSEA_SHUTDOWN; DIPSEA_WRONG_THREAD inside a callback.
#[no_mangle]
pub unsafe extern "C" fn dipsea_node_sample_infohashes(
    node: *const dipsea_node,
    target: *const dipsea_id,
    out_samples: *mut dipsea_samples,
) -> dipsea_status {
    boundary(|| {
        // SAFETY: this function's contract.
        let node = unsafe { node_arg(node) }?;
        // SAFETY: this function's contract.
        let target = unsafe { id_arg(target, "target") }?;
        let out_samples = out(out_samples, "out_samples")?;
        not_on_runtime()?;
        let samples = node.inner.sample_infohashes(target)?;
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { write_out(out_samples, dipsea_samples::from(samples)) };
        Ok(())
    })
}

/// Releases the info-hashes of samples dipsea_node_sample_infohashes wrote, and
/// resets them so a second free is harmless. NULL: a no-op.
///
/// Threads: any thread, not at the same time as another use of the samples.
/// Statuses: DIPSEA_OK.
#[no_mangle]
pub unsafe extern "C" fn dipsea_samples_free(samples: *mut dipsea_samples) -> dipsea_status {
    // SAFETY: NULL or samples the caller owns, by this function's contract.
    let Some(samples) = (unsafe { samples.as_mut() }) else {
        return dipsea_status::DIPSEA_OK;
    };
    samples.count = 0;
    // SAFETY: the samples' buffer, as dipsea_node_sample_infohashes wrote it.
    unsafe { crate::buffer::dipsea_buffer_free(&mut samples.info_hashes) }
}
