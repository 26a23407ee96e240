//! Conversions of core values into Python ones (no behaviour).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use dipsea::{Error, NodeBuilder, NodeConfig, NodeInfo, NodeStats, OptionKind};
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

/// The counters of [`NodeStats`] as a dict keyed by field name
/// ([`NodeStats::counters`]); `queries_in` is a dict keyed by KRPC method
/// ([`QueryCounts::fields`](dipsea::QueryCounts::fields)).
pub fn stats_dict<'py>(py: Python<'py>, stats: &NodeStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, value) in stats.counters() {
        d.set_item(name, value)?;
    }
    let queries = PyDict::new(py);
    for (method, count) in stats.queries_in.fields() {
        queries.set_item(method, count)?;
    }
    d.set_item("queries_in", queries)?;
    d.set_item("external_ip", stats.external_ip.map(|ip| ip.to_string()))?;
    d.set_item("id_conforms", stats.id_conforms)?;
    d.set_item("network_size", stats.network_size)?;
    Ok(d)
}

/// The overlay arguments of `Node`, `AsyncNode` and `Swarm`: `overlay`
/// (`"kademlia"`, the default, or `"one-hop"`) with its `partitioner` and
/// `replicas`; `None` when none is given. A partitioner or replicas without the
/// one-hop overlay, or an unknown name, raises `BadInput`
/// ([`Overlay::with_settings`](dipsea::onehop::Overlay::with_settings)).
pub fn overlay_arg(
    overlay: Option<&str>,
    partitioner: Option<&str>,
    replicas: Option<usize>,
) -> PyResult<Option<dipsea::onehop::Overlay>> {
    if overlay.is_none() && partitioner.is_none() && replicas.is_none() {
        return Ok(None);
    }
    dipsea::onehop::Overlay::with_settings(overlay.unwrap_or("kademlia"), partitioner, replicas)
        .map(Some)
        .map_err(to_py)
}

/// Sets the overlay (`"kademlia"` or `"one-hop"`) with its partitioner and replicas,
/// when given ([`overlay_arg`]).
pub fn with_overlay(
    b: NodeBuilder,
    overlay: Option<&str>,
    partitioner: Option<&str>,
    replicas: Option<usize>,
) -> PyResult<NodeBuilder> {
    Ok(match overlay_arg(overlay, partitioner, replicas)? {
        Some(overlay) => b.overlay(overlay),
        None => b,
    })
}

/// Makes the node a member of the private network called `network`, if given.
pub fn with_network(b: NodeBuilder, network: Option<&str>) -> PyResult<NodeBuilder> {
    match network {
        None => Ok(b),
        Some(name) => Ok(b.network(dipsea::node::NetworkId::from_name(name).map_err(to_py)?)),
    }
}

/// The constructor arguments shared by `Node` and `AsyncNode`. `None` leaves the
/// core's default ([`NodeConfig`]'s docs); the core checks every value when the node
/// starts ([`NodeBuilder::validate`]).
#[allow(clippy::too_many_arguments)]
pub fn builder(
    bind: Option<&str>,
    bind6: Option<&str>,
    bootstrap: Option<Vec<String>>,
    read_only: bool,
    state_path: Option<PathBuf>,
    id: Option<&Bound<'_, PyAny>>,
    k: Option<usize>,
    alpha: Option<usize>,
    workers: Option<usize>,
    query_timeout: Option<(f64, f64)>,
    max_in_flight: Option<usize>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<NodeBuilder> {
    let mut b = NodeBuilder::new();
    if let Some(bind) = bind {
        b = b.bind(bind);
    }
    if let Some(bind6) = bind6 {
        b = b.bind6(bind6);
    }
    let mut b = b
        .bootstrap(bootstrap.unwrap_or_default())
        .read_only(read_only);
    if let Some(options) = options {
        for (name, value) in options.iter() {
            let name: String = name.extract()?;
            let value = option_value(&name, &value)?;
            b.config_mut().set(&name, value).map_err(to_py)?;
        }
    }
    if let Some(k) = k {
        b = b.k(k);
    }
    if let Some(alpha) = alpha {
        b = b.alpha(alpha);
    }
    if let Some(workers) = workers {
        b = b.dedicated_runtime(workers);
    }
    if let Some(max) = max_in_flight {
        b = b.configure(|c| c.max_in_flight = max);
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

/// The value of option `name` in the units of [`NodeConfig::set`]: a flag from a
/// `bool`, a count from an `int`, a duration from seconds (a `float` or `int`).
/// An unknown name is left for the core to refuse.
fn option_value(name: &str, value: &Bound<'_, PyAny>) -> PyResult<u64> {
    let kind = NodeConfig::option(name).map(|o| o.kind);
    Ok(match kind {
        Some(OptionKind::Flag) => u64::from(value.extract::<bool>()?),
        Some(OptionKind::Millis) => {
            let ms = seconds(value.extract::<f64>()?)?.as_millis();
            u64::try_from(ms).unwrap_or(u64::MAX)
        }
        Some(OptionKind::Count) | None => value.extract::<u64>()?,
    })
}

/// Every node option ([`NodeConfig::options`]) with its default, in Python units:
/// `bool` flags, `int` counts, durations as `float` seconds.
pub fn default_options(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let defaults = NodeConfig::default();
    let d = PyDict::new(py);
    for option in NodeConfig::options() {
        let value = defaults.get(option.name).map_err(to_py)?;
        match option.kind {
            OptionKind::Flag => d.set_item(option.name, value != 0)?,
            OptionKind::Count => d.set_item(option.name, value)?,
            OptionKind::Millis => d.set_item(option.name, value as f64 / 1000.0)?,
        }
    }
    Ok(d)
}

/// A duration argument in seconds; negative, infinite or NaN raise `BadInput`.
pub fn seconds(s: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(s).map_err(|e| {
        to_py(Error::BadInput(format!(
            "{s} is not a duration in seconds: {e}"
        )))
    })
}
