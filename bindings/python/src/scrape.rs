//! `dipsea.Scrape` and `dipsea.Samples`: what a BEP 33 scrape and a BEP 51
//! `sample_infohashes` lookup return.

use dipsea::{InfohashSamples, ScrapeEstimate};
use pyo3::prelude::*;

use crate::id::PyId;

/// Estimated seeds and peers of an info-hash (BEP 33), from the bloom filters of
/// the closest nodes: ``seeds`` and ``peers`` (floats: each counts distinct IPs,
/// within about 1% up to a few hundred), ``responders`` (nodes whose filters
/// counted).
#[pyclass(module = "dipsea", name = "Scrape", frozen)]
pub struct PyScrape(pub ScrapeEstimate);

#[pymethods]
impl PyScrape {
    /// Estimated seeds: peers that announced with ``seed=True``.
    #[getter]
    fn seeds(&self) -> f64 {
        self.0.seeds
    }

    /// Estimated other peers (downloaders).
    #[getter]
    fn peers(&self) -> f64 {
        self.0.peers
    }

    /// How many of the closest nodes sent filters.
    #[getter]
    fn responders(&self) -> usize {
        self.0.responders
    }

    fn __repr__(&self) -> String {
        format!(
            "Scrape(seeds={:.1}, peers={:.1}, responders={})",
            self.0.seeds, self.0.peers, self.0.responders
        )
    }
}

/// Info-hashes sampled around a target (BEP 51): ``info_hashes`` (``Id`` s, each
/// once), ``responders``, ``num`` (the most one node said it stores) and
/// ``interval`` (seconds before those nodes answer this address again).
#[pyclass(module = "dipsea", name = "Samples", frozen)]
pub struct PySamples(pub InfohashSamples);

#[pymethods]
impl PySamples {
    /// The info-hashes, in the order first seen.
    #[getter]
    fn info_hashes(&self) -> Vec<PyId> {
        self.0.info_hashes.iter().copied().map(PyId).collect()
    }

    /// Nodes that answered with samples.
    #[getter]
    fn responders(&self) -> usize {
        self.0.responders
    }

    /// The largest number of info-hashes one answering node stores.
    #[getter]
    fn num(&self) -> u64 {
        self.0.max_num
    }

    /// Seconds before the answering nodes sample for this address again.
    #[getter]
    fn interval(&self) -> u64 {
        self.0.interval
    }

    fn __len__(&self) -> usize {
        self.0.info_hashes.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "Samples({} info-hashes from {} nodes)",
            self.0.info_hashes.len(),
            self.0.responders
        )
    }
}
