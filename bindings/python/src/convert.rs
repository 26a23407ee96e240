//! Conversions of core values into Python ones (no behaviour).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use dipsea::{Error, NodeBuilder, NodeConfig, NodeInfo, NodeStats};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::errors::to_py;
use crate::id::{id_arg, PyId};

/// A socket address as Python's socket module writes it: `(host, port)`.
pub type PyAddr = (String, u16);

/// `(host, port)` of a socket address.
pub fn addr(addr: SocketAddr) -> PyAddr {
    (addr.ip().to_string(), addr.port())
}

/// A `(host, port)` pair with a literal IP address (no name lookup).
pub fn socket_addr((host, port): &PyAddr) -> PyResult<SocketAddr> {
    let ip: IpAddr = host
        .parse()
        .map_err(|_| to_py(Error::BadInput(format!("{host:?} is not an IP address"))))?;
    Ok(SocketAddr::new(ip, *port))
}

/// `(id, (host, port))` of a contact.
pub fn contact(node: NodeInfo) -> (PyId, PyAddr) {
    (PyId(node.id), addr(node.addr))
}

/// Owned bytes that become a Python `bytes` (a `Vec<u8>` would become a list).
pub struct Bytes(pub Vec<u8>);

impl<'py> IntoPyObject<'py> for Bytes {
    type Target = PyBytes;
    type Output = Bound<'py, PyBytes>;
    type Error = Infallible;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        Ok(PyBytes::new(py, &self.0))
    }
}

/// The counters of [`NodeStats`] as a dict keyed by field name; `queries_in` is a
/// dict keyed by KRPC method.
pub fn stats_dict<'py>(py: Python<'py>, stats: &NodeStats) -> PyResult<Bound<'py, PyDict>> {
    let NodeStats {
        packets_in,
        packets_out,
        bytes_in,
        bytes_out,
        queries_in,
        responses_in,
        errors_in,
        malformed,
        oversized,
        rate_limited_ip,
        rate_limited_global,
        bad_token,
        over_quota,
        refused,
        unmatched,
        timeouts,
        retries,
        in_flight_full,
        send_drops,
        ops_started,
        ops_done,
        in_flight,
        routing_table_size,
        items,
        info_hashes,
        stored_bytes,
        published,
        external_ip,
        id_conforms,
    } = stats;
    let d = PyDict::new(py);
    d.set_item("packets_in", packets_in)?;
    d.set_item("packets_out", packets_out)?;
    d.set_item("bytes_in", bytes_in)?;
    d.set_item("bytes_out", bytes_out)?;
    let queries = PyDict::new(py);
    for (method, count) in queries_in {
        queries.set_item(method, count)?;
    }
    d.set_item("queries_in", queries)?;
    d.set_item("responses_in", responses_in)?;
    d.set_item("errors_in", errors_in)?;
    d.set_item("malformed", malformed)?;
    d.set_item("oversized", oversized)?;
    d.set_item("rate_limited_ip", rate_limited_ip)?;
    d.set_item("rate_limited_global", rate_limited_global)?;
    d.set_item("bad_token", bad_token)?;
    d.set_item("over_quota", over_quota)?;
    d.set_item("refused", refused)?;
    d.set_item("unmatched", unmatched)?;
    d.set_item("timeouts", timeouts)?;
    d.set_item("retries", retries)?;
    d.set_item("in_flight_full", in_flight_full)?;
    d.set_item("send_drops", send_drops)?;
    d.set_item("ops_started", ops_started)?;
    d.set_item("ops_done", ops_done)?;
    d.set_item("in_flight", in_flight)?;
    d.set_item("routing_table_size", routing_table_size)?;
    d.set_item("items", items)?;
    d.set_item("info_hashes", info_hashes)?;
    d.set_item("stored_bytes", stored_bytes)?;
    d.set_item("published", published)?;
    d.set_item("external_ip", external_ip.map(|ip| ip.to_string()))?;
    d.set_item("id_conforms", id_conforms)?;
    Ok(d)
}

/// The constructor arguments shared by `Node` and `AsyncNode`.
#[allow(clippy::too_many_arguments)]
pub fn builder(
    bind: &str,
    bootstrap: Option<Vec<String>>,
    read_only: bool,
    state_path: Option<PathBuf>,
    id: Option<&Bound<'_, PyAny>>,
    k: usize,
    alpha: usize,
    workers: Option<usize>,
    query_timeout: Option<(f64, f64)>,
    max_in_flight: Option<usize>,
) -> PyResult<NodeBuilder> {
    let mut config = NodeConfig::default();
    if let Some(max) = max_in_flight {
        config.max_in_flight = max;
    }
    // `config` first: the setters below refine it.
    let mut b = NodeBuilder::new()
        .config(config)
        .bind(bind)
        .bootstrap(bootstrap.unwrap_or_default())
        .read_only(read_only)
        .k(k)
        .alpha(alpha);
    if let Some(workers) = workers {
        b = b.dedicated_runtime(workers);
    }
    if let Some(path) = state_path {
        b = b.state_path(path);
    }
    if let Some(id) = id {
        b = b.id(id_arg(id)?);
    }
    if let Some((floor, ceiling)) = query_timeout {
        b = b.query_timeout(seconds(floor)?, seconds(ceiling)?);
    }
    Ok(b)
}

/// A duration argument in seconds; negative, infinite or NaN raise `BadInput`.
pub fn seconds(s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|e| {
        to_py(Error::BadInput(format!(
            "{s} is not a duration in seconds: {e}"
        )))
    })
}
