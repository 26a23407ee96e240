//! The tokio UDP driver: runs a sans-I/O [`Node`] on a real socket and real time,
//! and the handles users call.
//!
//! Entry point: [`NodeBuilder`]. `spawn().await` gives an async [`NodeHandle`] on the
//! caller's runtime; `start_blocking()` gives a [`BlockingNode`] for callers without
//! one, on the process-wide runtime that blocking nodes share (see [`runtime`]).
//!
//! Inside, a receiver task (one by default, [`NodeBuilder::receivers`]) drains the
//! socket and calls [`Node::handle_datagram`] on the shared, lock-sharded node; a timer task calls
//! [`Node::tick`] at the node's next deadline. Operations run on whichever task
//! delivers their answers: no task per operation, no global lock per packet.

mod mutable;
pub mod routers;
pub(crate) mod state_file;
mod subscribe;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

pub mod runtime;

use parking_lot::Mutex;
use runtime::Lease;
pub use runtime::{shared_runtime_running, shutdown_shared_runtime};
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;

pub use super::ops::PutResult;
use super::ops::{
    typed, InfohashSamples, OpError, OpId, OpResult, Outcome, Request, ScrapeEstimate,
};
use super::output::{Event, Output};
use super::{Node, NodeConfig, NodeStats};
use crate::error::Error;
use crate::id::{bep42, Id, NodeInfo};
use crate::push::{Broadcast, KeyRange, SigningKey};
use crate::time::Time;
use crate::wire::bencode;
pub use subscribe::{
    BlockingPeerSubscription, BlockingSubscription, PeerSubscription, Subscription, UPDATE_QUEUE,
};

/// Delivered broadcasts a slow subscriber may lag behind before it misses some
/// ([`NodeHandle::broadcasts`]).
pub const BROADCAST_QUEUE: usize = 256;

/// Socket buffer size asked of the kernel (it may grant less). Large buffers keep
/// bursts of replies from being dropped when many lookups run at once.
const SOCKET_BUFFER: usize = 8 << 20;

/// Receive buffer asked for where the process may exceed the system's maximum
/// (Linux, with CAP_NET_ADMIN). The kernel charges each queued datagram several times
/// its length, so under a flood of large datagrams 8 MiB holds only a few
/// milliseconds of traffic; a larger buffer rides out the moments the node's threads
/// are not running (the machine is busy) without dropping well-behaved peers'
/// queries with the flood. It is memory of the kernel, used only while datagrams
/// wait.
const FORCED_RECV_BUFFER: usize = 64 << 20;

/// Builds and starts a node on a UDP socket.
///
/// ```no_run
/// # async fn demo() -> Result<(), dipsea::Error> {
/// let node = dipsea::NodeBuilder::new()
///     .bind("127.0.0.1:0")
///     .bootstrap(["127.0.0.1:6881"])
///     .spawn()
///     .await?;
/// let key = node.put(b"hello").await?.key;
/// assert_eq!(node.get(key).await?, Some(b"hello".to_vec()));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct NodeBuilder {
    bind: String,
    /// The IPv6 address of a dual-stack node (BEP 32), see [`NodeBuilder::bind6`].
    bind6: Option<String>,
    /// Whether `bind` was left at its default (which goes dual stack when it can).
    default_bind: bool,
    bootstrap: Vec<String>,
    state_path: Option<PathBuf>,
    id: Option<Id>,
    id_ip: Option<IpAddr>,
    /// Threads of a dedicated runtime; `None`: the shared runtime.
    workers: Option<usize>,
    receivers: usize,
    config: NodeConfig,
    no_default_routers: bool,
    resolver: routers::Resolver,
    resolve_timeout: Duration,
}

impl Default for NodeBuilder {
    fn default() -> Self {
        NodeBuilder::new()
    }
}

impl NodeBuilder {
    /// A builder with the defaults: bind `0.0.0.0:0`, no bootstrap address (so the
    /// node joins the public Mainline DHT through [`routers::DEFAULT_ROUTERS`], see
    /// [`Self::no_default_routers`]), a random id, [`NodeConfig::default`].
    pub fn new() -> NodeBuilder {
        NodeBuilder {
            bind: "0.0.0.0:0".to_string(),
            bind6: None,
            default_bind: true,
            bootstrap: Vec::new(),
            state_path: None,
            id: None,
            id_ip: None,
            workers: None,
            receivers: 1,
            config: NodeConfig::default(),
            no_default_routers: false,
            resolver: routers::Resolver::default(),
            resolve_timeout: routers::DEFAULT_RESOLVE_TIMEOUT,
        }
    }

    /// The local address to bind, `HOST:PORT` (port 0 picks a free one). With it
    /// alone the node has one socket, of this address's family; the default (no
    /// `bind`, no [`Self::bind6`]) is [`Self::dual_stack`] on port 0.
    pub fn bind(mut self, addr: impl Into<String>) -> Self {
        self.bind = addr.into();
        self.default_bind = false;
        self
    }

    /// A second, IPv6 address to bind beside [`Self::bind`]'s IPv4 one (`[HOST]:PORT`;
    /// port 0 takes the IPv4 socket's port): a dual-stack node (BEP 32), with a
    /// routing table per family, that answers and looks up over both. The IPv6
    /// socket only carries IPv6 (`IPV6_V6ONLY`). Binding it failing is an error.
    pub fn bind6(mut self, addr: impl Into<String>) -> Self {
        self.bind6 = Some(addr.into());
        self.default_bind = false;
        self
    }

    /// Both families on all interfaces, one port: `0.0.0.0:port` and `[::]:port`
    /// (port 0: a free one, the same for both). This is the default; when the host
    /// has no IPv6 (binding `[::]` fails), the node goes on with IPv4 alone.
    pub fn dual_stack(mut self, port: u16) -> Self {
        self.bind = format!("0.0.0.0:{port}");
        self.bind6 = None;
        self.default_bind = true;
        self
    }

    /// Bootstrap addresses (`HOST:PORT`), tried in turn when joining and whenever the
    /// routing table empties. Names are resolved when the node starts.
    pub fn bootstrap<S: Into<String>>(mut self, addrs: impl IntoIterator<Item = S>) -> Self {
        self.bootstrap.extend(addrs.into_iter().map(Into::into));
        self
    }

    /// Starts without the default routers: a node given no bootstrap address and no
    /// saved state then joins nothing and waits to be joined, the first node of a
    /// private or test network. Without this, such a node joins the public Mainline
    /// DHT through [`routers::DEFAULT_ROUTERS`]; a bootstrap address or a saved state
    /// replaces the default routers either way.
    pub fn no_default_routers(mut self, none: bool) -> Self {
        self.no_default_routers = none;
        self
    }

    /// Makes the node a member of a private network ([`NetworkId::from_name`]): it
    /// tags its messages with the id, drops those of other networks (the public
    /// DHT's included) and never uses the default routers (give it a bootstrap
    /// address of its network, or none for the network's first node). See
    /// [`crate::node::network`].
    ///
    /// [`NetworkId::from_name`]: crate::node::NetworkId::from_name
    pub fn network(mut self, network: crate::node::NetworkId) -> Self {
        self.config.network = Some(network);
        self
    }

    /// The overlay the node runs (default [`Overlay::Kademlia`](crate::onehop::Overlay)).
    /// [`Overlay::OneHop`](crate::onehop::Overlay::OneHop) needs [`Self::network`]:
    /// a one-hop node never joins the public DHT. Its bootstrap addresses are members
    /// it asks for the member list; its id is SHA-1 of a fresh member key, so
    /// [`Self::id`] may not be set; and it accepts broadcasts
    /// ([`crate::push::AcceptPolicy::Open`] unless a policy was set), since
    /// membership travels by them. See [`crate::onehop`].
    pub fn overlay(mut self, overlay: crate::onehop::Overlay) -> Self {
        let one_hop = matches!(overlay, crate::onehop::Overlay::OneHop(_));
        if one_hop && self.config.broadcast.accept == crate::push::AcceptPolicy::Off {
            self.config.broadcast.accept = crate::push::AcceptPolicy::Open;
        }
        self.config.overlay = overlay;
        self
    }

    /// The resolver of the bind address, the bootstrap names and the default routers
    /// (default [`routers::SystemResolver`]); a closure
    /// `Fn(&str) -> io::Result<Vec<SocketAddr>>` will do.
    pub fn resolver(mut self, resolver: impl routers::Resolve + 'static) -> Self {
        self.resolver = routers::Resolver(Arc::new(resolver));
        self
    }

    /// How long each default router may take to resolve (they resolve in parallel;
    /// default [`routers::DEFAULT_RESOLVE_TIMEOUT`]).
    pub fn resolve_timeout(mut self, timeout: Duration) -> Self {
        self.resolve_timeout = timeout;
        self
    }

    /// Read-only mode (BEP 43): answers no queries and asks others not to add this
    /// node to their tables.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.config.read_only = read_only;
        self
    }

    /// Where to save the routing table (periodically and on shutdown) and load it
    /// from on start, so a restarted node rejoins without a bootstrap address.
    pub fn state_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_path = Some(path.into());
        self
    }

    /// The node id; random by default (or the one saved at `state_path`). Takes
    /// precedence over [`Self::id_for_ip`].
    pub fn id(mut self, id: Id) -> Self {
        self.id = Some(id);
        self
    }

    /// Derives the node id from the node's known public address (BEP 42), so that
    /// peers which prefer or enforce conforming ids keep it. A saved id (see
    /// [`Self::state_path`]) that already conforms to `ip` is kept; otherwise a new
    /// random conforming id is drawn ([`crate::id::bep42::node_id_for`]). Without
    /// this, a node whose learned address its id does not fit logs a warning
    /// ([`Event::ExternalIp`]).
    pub fn id_for_ip(mut self, ip: IpAddr) -> Self {
        self.id_ip = Some(ip);
        self
    }

    /// BEP 42 enforcement (default off): when on, nodes whose id does not conform
    /// to their public address never enter the routing table, so they are never
    /// returned in answers ([`crate::RoutingConfig::enforce_bep42`]). Off, the
    /// table only prefers conforming ids.
    pub fn enforce_bep42(mut self, enforce: bool) -> Self {
        self.config.routing.enforce_bep42 = enforce;
        self
    }

    /// Bucket size and replication factor k ([`crate::LookupConfig::k`], 1 to 1024;
    /// checked when the node starts).
    pub fn k(mut self, k: usize) -> Self {
        self.config.set_k(k);
        self
    }

    /// Lookup parallelism alpha ([`crate::LookupConfig::alpha`], 1 to 1024; checked
    /// when the node starts).
    pub fn alpha(mut self, alpha: usize) -> Self {
        self.config.lookup.alpha = alpha;
        self
    }

    /// Bounds of the per-query timeout, which otherwise follows the measured
    /// round-trip time ([`NodeConfig::timeout_floor`],
    /// [`NodeConfig::timeout_ceiling`]; `floor <= ceiling`, checked when the node
    /// starts).
    pub fn query_timeout(mut self, floor: Duration, ceiling: Duration) -> Self {
        self.config.timeout_floor = floor;
        self.config.timeout_ceiling = ceiling;
        self
    }

    /// Makes [`NodeBuilder::start_blocking`] run the node on a runtime of its own
    /// with `workers` threads (at least 1, checked when the node starts), shut down with the node, instead of the
    /// process-wide runtime that blocking nodes share by default (one thread per
    /// core; see [`runtime`]). For a node that must not share threads with others.
    /// [`NodeBuilder::spawn`] runs on the caller's runtime and ignores it.
    pub fn dedicated_runtime(mut self, workers: usize) -> Self {
        self.workers = Some(workers);
        self
    }

    /// Tasks reading the socket (default 1). One drains far more datagrams a second
    /// than a DHT node receives, since handling one takes a few microseconds; the
    /// node's work on them is shared with every other task of the runtime anyway.
    /// Several receivers on one socket are all woken for each datagram, which costs
    /// about 10% more CPU per operation on a 2-core machine (measured with
    /// `benches/examples/cpu_per_op.rs`); more may pay on many cores under a flood.
    pub fn receivers(mut self, receivers: usize) -> Self {
        self.receivers = receivers;
        self
    }

    /// Replaces the whole protocol configuration (the settings made before by
    /// [`Self::k`], [`Self::alpha`], [`Self::read_only`], ... with it; to change a
    /// few fields whatever the order of calls, use [`Self::configure`]).
    pub fn config(mut self, config: NodeConfig) -> Self {
        self.config = config;
        self
    }

    /// Changes fields of the protocol configuration in place, keeping the others:
    /// `.configure(|c| c.max_in_flight = 64)`. Every field and its default is
    /// documented on [`NodeConfig`]; the values are checked when the node starts.
    pub fn configure(mut self, change: impl FnOnce(&mut NodeConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// The protocol configuration as set so far.
    pub fn config_ref(&self) -> &NodeConfig {
        &self.config
    }

    /// The protocol configuration as set so far, to change in place (what the C and
    /// Python bindings use with [`NodeConfig::set`]).
    pub fn config_mut(&mut self) -> &mut NodeConfig {
        &mut self.config
    }

    /// Checks the settings: [`NodeConfig::validate`], and at least one worker and
    /// one receiver. [`Self::spawn`] and [`Self::start_blocking`] call it first.
    ///
    /// Errors: [`Error::BadInput`] saying which setting is out of range.
    pub fn validate(&self) -> Result<(), Error> {
        if self.workers == Some(0) {
            return Err(Error::BadInput("workers must be at least 1, got 0".into()));
        }
        if self.receivers == 0 {
            return Err(Error::BadInput(
                "receivers must be at least 1, got 0".into(),
            ));
        }
        let one_hop = matches!(self.config.overlay, crate::onehop::Overlay::OneHop(_));
        if one_hop && (self.id.is_some() || self.id_ip.is_some()) {
            return Err(Error::BadInput(
                "a one-hop node's id is SHA-1 of its member key; do not set an id".into(),
            ));
        }
        self.config.validate()
    }

    /// Binds the socket, loads the saved state, starts the node's tasks on the
    /// current tokio runtime and bootstraps in the background.
    ///
    /// Errors: [`Error::BadInput`] if a setting is out of range
    /// ([`Self::validate`]) or an address does not resolve; [`Error::Io`] if the
    /// address cannot be bound.
    pub async fn spawn(self) -> Result<NodeHandle, Error> {
        self.validate()?;
        let bind = self.resolver.one(&self.bind)?;
        let (socket, sender) = bind_socket(bind, false)?;
        let local_addr = socket.local_addr()?;
        let v6 = self.bind_v6(local_addr)?;
        let mut routers = Vec::new();
        for name in &self.bootstrap {
            routers.push(self.resolver.one(name)?);
        }
        let saved = match &self.state_path {
            Some(path) => state_file::load(path),
            None => None,
        };
        let saved_contacts = saved.as_ref().is_some_and(|s| !s.contacts.is_empty());
        let public = self.config.network.is_none();
        if routers.is_empty() && !saved_contacts && !self.no_default_routers && public {
            routers = self
                .resolver
                .routers(&routers::DEFAULT_ROUTERS, self.resolve_timeout, local_addr)
                .await?;
        }
        let id = pick_id(self.id, saved.as_ref().map(|s| s.id), self.id_ip);
        let mut config = self.config;
        config.bootstrap = routers;
        config.dual_stack = v6.is_some();
        let node = Node::new(id, config, Time::ZERO);
        node.set_member_addr(local_addr);
        if let Some(saved) = saved {
            node.add_seeds(saved.contacts);
        }
        let shared = Arc::new(Shared {
            node,
            socket,
            sender,
            local_addr,
            v6,
            epoch: Instant::now(),
            waiters: DashMap::new(),
            timer: Notify::new(),
            timer_at: AtomicU64::new(u64::MAX),
            closed: AtomicBool::new(false),
            stop: watch::channel(false).0,
            tasks: Mutex::new(Vec::new()),
            state_path: self.state_path,
            delivered: tokio::sync::broadcast::channel(BROADCAST_QUEUE).0,
            listeners: subscribe::Listeners::default(),
        });
        let families = if shared.v6.is_some() { 2 } else { 1 };
        for v6 in (0..families).map(|f| f == 1) {
            for _ in 0..self.receivers {
                let stop = shared.stop.subscribe();
                let task = tokio::spawn(receive_loop(shared.clone(), stop, v6));
                shared.tasks.lock().push(task);
            }
        }
        let task = tokio::spawn(timer_loop(shared.clone(), shared.stop.subscribe()));
        shared.tasks.lock().push(task);
        let handle = NodeHandle {
            _guard: Arc::new(Guard(shared.clone())),
            shared,
        };
        if !handle.shared.node.config().bootstrap.is_empty() || handle.shared.node.has_seeds() {
            // Join in the background; callers that need the table wait on `bootstrap`.
            handle.start(Request::Bootstrap);
        }
        Ok(handle)
    }

    /// The IPv6 socket of a dual-stack node: [`Self::bind6`]'s address, or with the
    /// default bind `[::]` on the IPv4 socket's port when the host allows it.
    fn bind_v6(&self, v4: SocketAddr) -> Result<Option<Socket6>, Error> {
        let (addr, required) = match &self.bind6 {
            Some(name) => (self.resolver.one(name)?, true),
            None if self.default_bind && v4.is_ipv4() => (
                SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
                false,
            ),
            None => return Ok(None),
        };
        if !addr.is_ipv6() || !v4.is_ipv4() {
            return Err(Error::BadInput(format!(
                "a dual-stack node binds an IPv4 and an IPv6 address, not {v4} and {addr}"
            )));
        }
        let addr = match addr.port() {
            0 => SocketAddr::new(addr.ip(), v4.port()),
            _ => addr,
        };
        match bind_socket(addr, true) {
            Ok((socket, sender)) => Ok(Some(Socket6 {
                local_addr: socket.local_addr()?,
                socket,
                sender,
            })),
            Err(e) if required => Err(e),
            Err(e) => {
                tracing::debug!(%addr, error = %e, "no IPv6: going on with IPv4 alone");
                Ok(None)
            }
        }
    }

    /// Starts the node on the process-wide runtime that blocking nodes share
    /// (created by the first one, shut down when the last one is dropped), or on a
    /// runtime of its own if [`NodeBuilder::dedicated_runtime`] was set, and returns
    /// a handle whose methods block.
    ///
    /// Errors: [`Error::Io`] if the address cannot be bound or resolved, or the
    /// runtime's threads cannot start. Must not be called from inside a tokio
    /// runtime (blocking there panics); use [`NodeBuilder::spawn`] there.
    pub fn start_blocking(self) -> Result<BlockingNode, Error> {
        self.validate()?;
        let runtime = match self.workers {
            Some(workers) => Lease::dedicated(workers)?,
            None => Lease::shared()?,
        };
        let handle = runtime.handle().block_on(self.spawn())?;
        Ok(BlockingNode { handle, runtime })
    }
}

/// The id a node starts with: the one given, else the saved one (if it conforms to
/// `for_ip`, when that is given), else one derived from `for_ip` (BEP 42), else a
/// random one.
fn pick_id(given: Option<Id>, saved: Option<Id>, for_ip: Option<IpAddr>) -> Id {
    let saved = saved.filter(|id| for_ip.is_none_or(|ip| bep42::id_conforms(id, ip)));
    given
        .or(saved)
        .or_else(|| for_ip.map(|ip| bep42::node_id_for(ip, &mut rand::thread_rng())))
        .unwrap_or_else(Id::random)
}

/// Logs a newly learned public address; a warning when the node id does not
/// conform to it (BEP 42), since the id is not changed while the node runs.
fn log_external_ip(node: &Node, ip: IpAddr, id_conforms: bool) {
    if id_conforms {
        tracing::info!(%ip, "external address learned by vote");
    } else {
        tracing::warn!(
            %ip,
            id = %node.id(),
            "external address learned by vote, but the node id does not conform to it \
             (BEP 42): nodes that enforce BEP 42 will not keep this node in their tables; \
             restart with NodeBuilder::id_for_ip"
        );
    }
}

/// Binds the node's socket: the tokio socket the receivers read, and a second handle
/// on the same socket that [`Shared::flush`] sends through.
/// `only_v6` (an IPv6 address beside an IPv4 socket) sets `IPV6_V6ONLY`, so that the
/// two sockets can share a port.
fn bind_socket(addr: SocketAddr, only_v6: bool) -> Result<(UdpSocket, std::net::UdpSocket), Error> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if only_v6 {
        socket.set_only_v6(true)?;
    }
    // Best effort: the kernel caps these at its configured maximum, unless the
    // process may force a larger receive buffer.
    #[cfg(target_os = "linux")]
    let forced =
        rustix::net::sockopt::set_socket_recv_buffer_size_force(&socket, FORCED_RECV_BUFFER)
            .is_ok();
    #[cfg(not(target_os = "linux"))]
    let forced = false;
    if !forced {
        let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    }
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    // Sending goes straight to the (non-blocking) socket rather than through tokio's
    // write readiness: a UDP send only waits when the send buffer is full, and tokio
    // reports a fresh socket as not yet writable until its reactor has polled it, so
    // the first datagrams of a new node (its bootstrap queries) were dropped and sent
    // again only after a query timeout.
    let sender: std::net::UdpSocket = socket.try_clone()?.into();
    Ok((UdpSocket::from_std(socket.into())?, sender))
}

struct Shared {
    node: Node,
    /// Read by the receivers.
    socket: UdpSocket,
    /// The same socket, written by [`Shared::flush`].
    sender: std::net::UdpSocket,
    local_addr: SocketAddr,
    /// The IPv6 socket of a dual-stack node; `socket` is then the IPv4 one.
    v6: Option<Socket6>,
    epoch: Instant,
    waiters: DashMap<OpId, oneshot::Sender<OpResult>>,
    /// Wakes the timer task when an earlier deadline appears.
    timer: Notify,
    /// The deadline the timer task sleeps until, in `Time` millis.
    timer_at: AtomicU64,
    closed: AtomicBool,
    /// Set to `true` once when shutdown begins; every task watches it.
    stop: watch::Sender<bool>,
    /// The receiver and timer tasks, joined by shutdown.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    state_path: Option<PathBuf>,
    /// Delivered broadcasts, to every subscriber ([`NodeHandle::broadcasts`]).
    delivered: tokio::sync::broadcast::Sender<Broadcast>,
    /// Local listeners of subscribed mutable items ([`NodeHandle::subscribe`]).
    listeners: subscribe::Listeners,
}

/// The second (IPv6) socket of a dual-stack node, as [`Shared`] holds the first.
struct Socket6 {
    socket: UdpSocket,
    sender: std::net::UdpSocket,
    local_addr: SocketAddr,
}

impl Shared {
    /// The socket the receivers of one family read (`v6` only on a dual-stack node).
    fn socket(&self, v6: bool) -> &UdpSocket {
        match &self.v6 {
            Some(s) if v6 => &s.socket,
            _ => &self.socket,
        }
    }

    /// The socket a datagram to `to` leaves through: its family's.
    fn sender_for(&self, to: &SocketAddr) -> &std::net::UdpSocket {
        match &self.v6 {
            Some(s) if to.is_ipv6() => &s.sender,
            _ => &self.sender,
        }
    }

    fn now(&self) -> Time {
        Time::from_millis(u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// Sends what the node produced and delivers its events.
    fn flush(&self, out: &mut Output) {
        for (to, datagram) in out.datagrams() {
            match self.sender_for(&to).send_to(datagram, to) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // The send buffer is full: drop, like the network would; the
                    // query's timeout and retry recover it.
                    self.node.count_send_drop();
                }
                Err(e) => tracing::debug!(%to, error = %e, "send failed"),
            }
        }
        for event in out.events.drain(..) {
            match event {
                Event::Done { op, result } => {
                    if let Some((_, waiter)) = self.waiters.remove(&op) {
                        let _ = waiter.send(result);
                    }
                }
                Event::ExternalIp { ip, id_conforms } => {
                    log_external_ip(&self.node, ip, id_conforms)
                }
                Event::Broadcast(b) => {
                    // No receiver subscribed is not an error.
                    let _ = self.delivered.send(b);
                }
                Event::MutableUpdate(item) => self.listeners.deliver(&item),
                Event::Peers { info_hash, peers } => {
                    self.listeners.deliver_peers(&info_hash, &peers)
                }
            }
        }
        out.clear();
        self.wake_timer_if_earlier();
    }

    fn wake_timer_if_earlier(&self) {
        let deadline = self.node.next_deadline().as_millis();
        if deadline < self.timer_at.load(Ordering::Relaxed) {
            self.timer.notify_one();
        }
    }
}

/// Most datagrams one receiver handles in a row before it yields to other tasks.
const RECV_BATCH: usize = 256;

/// Drains the socket: waits until it is readable, then reads and handles datagrams
/// without waiting until it is empty (or a batch is done). Reading in batches keeps
/// the per-datagram cost to one system call and the node's own work, which is what
/// lets a node drain a flood faster than the kernel queue fills.
async fn receive_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>, v6: bool) {
    let socket = shared.socket(v6);
    // One byte more than the node accepts: a longer datagram arrives truncated to
    // this, is counted as oversized and dropped, and costs no copy of the rest.
    let mut buf = vec![0u8; shared.node.config().max_datagram.saturating_add(1)];
    let mut out = Output::new();
    loop {
        if shared.closed.load(Ordering::Relaxed) {
            return;
        }
        tokio::select! {
            r = socket.readable() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "socket not readable");
                    return;
                }
            }
            _ = stop.changed() => return,
        }
        let mut drained = false;
        for _ in 0..RECV_BATCH {
            match socket.try_recv_from(&mut buf) {
                Ok((len, from)) => {
                    let data = buf.get(..len).unwrap_or_default();
                    shared
                        .node
                        .handle_datagram(from, data, shared.now(), &mut out);
                    shared.flush(&mut out);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                // ICMP port-unreachable and the like surface here on some systems.
                Err(e) => tracing::trace!(error = %e, "recv failed"),
            }
        }
        if !drained {
            // A full batch: let the other tasks of this worker thread run.
            tokio::task::yield_now().await;
        }
    }
}

async fn timer_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut out = Output::new();
    // A floor, so that an interval of zero cannot make this loop spin.
    let save_every = shared
        .node
        .config()
        .save_interval
        .max(Duration::from_millis(1));
    let mut next_save = Instant::now() + save_every;
    loop {
        if shared.closed.load(Ordering::Relaxed) {
            return;
        }
        let now = shared.now();
        shared.node.tick(now, &mut out);
        shared.flush(&mut out);
        if shared.state_path.is_some() && Instant::now() >= next_save {
            next_save = Instant::now() + save_every;
            save_state(&shared);
        }
        // Sleep until the node's next deadline, at most a second, or until woken.
        let deadline = shared.node.next_deadline().as_millis();
        let wake_at = deadline.min(now.as_millis() + 1_000);
        shared.timer_at.store(wake_at, Ordering::Relaxed);
        let mut sleep_for = Duration::from_millis(wake_at.saturating_sub(shared.now().as_millis()));
        if shared.state_path.is_some() {
            // Save intervals under a second are kept too.
            sleep_for = sleep_for.min(next_save.saturating_duration_since(Instant::now()));
        }
        tokio::select! {
            _ = tokio::time::sleep(sleep_for) => {}
            _ = shared.timer.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

fn save_state(shared: &Shared) {
    if let Some(path) = &shared.state_path {
        let contacts = shared.node.contacts();
        if contacts.is_empty() && shared.node.has_seeds() {
            // Restarted, and no saved contact has answered yet (or none will): keep
            // the file that lists them instead of saving an empty table over it, or a
            // crash now would leave nothing to rejoin from.
            return;
        }
        if let Err(e) = state_file::save(path, shared.node.id(), &contacts) {
            tracing::warn!(path = %path.display(), error = %e, "saving the routing table failed");
        }
    }
}

/// An async handle to a running node. Cheap to clone; every clone drives the same
/// node. All methods are cancel safe: dropping a future abandons the wait, and the
/// operation finishes on its own in the background.
#[derive(Clone)]
pub struct NodeHandle {
    shared: Arc<Shared>,
    /// Shared by the clones of this handle (not by the node's own tasks): when the
    /// last clone is dropped, the node stops.
    _guard: Arc<Guard>,
}

/// Stops the node when the last [`NodeHandle`] clone goes away, so a dropped handle
/// never leaves tasks running and the socket bound.
struct Guard(Arc<Shared>);

impl Drop for Guard {
    fn drop(&mut self) {
        begin_shutdown(&self.0);
    }
}

/// Marks the node closed, saves its state, wakes every task so it exits, and fails
/// the operations still waiting. Returns false if it was closed already.
fn begin_shutdown(shared: &Shared) -> bool {
    if shared.closed.swap(true, Ordering::SeqCst) {
        return false;
    }
    save_state(shared);
    shared.stop.send_replace(true);
    let ops: Vec<OpId> = shared.waiters.iter().map(|e| *e.key()).collect();
    for op in ops {
        if let Some((_, waiter)) = shared.waiters.remove(&op) {
            let _ = waiter.send(OpResult {
                outcome: Err(OpError::Shutdown),
                lookup: Default::default(),
                sent: 0,
            });
        }
    }
    true
}

/// Cancels an operation whose caller stopped waiting for it.
struct CancelOnDrop<'a> {
    shared: &'a Shared,
    /// The operation, until its result has arrived.
    op: Option<OpId>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(op) = self.op.take() {
            self.shared.waiters.remove(&op);
            self.shared.node.cancel(op);
        }
    }
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("id", &self.id())
            .field("local_addr", &self.local_addr())
            .finish()
    }
}

impl NodeHandle {
    /// Starts an operation; returns the receiver of its result.
    fn start(&self, request: Request) -> (OpId, oneshot::Receiver<OpResult>) {
        let (tx, rx) = oneshot::channel();
        let op = self.shared.node.next_op_id();
        if self.shared.closed.load(Ordering::Relaxed) {
            let _ = tx.send(OpResult {
                outcome: Err(OpError::Shutdown),
                lookup: Default::default(),
                sent: 0,
            });
            return (op, rx);
        }
        let mut out = Output::new();
        // Register before starting: the result may arrive on another task at once.
        self.shared.waiters.insert(op, tx);
        self.shared
            .node
            .start(op, request, self.shared.now(), &mut out);
        self.shared.flush(&mut out);
        (op, rx)
    }

    /// Runs one operation to its end. Dropping the future before then (a timeout
    /// around it, a cancelled Python future) cancels the operation: no more
    /// queries are sent for it.
    async fn run(&self, request: Request) -> Result<Outcome, Error> {
        let (op, rx) = self.start(request);
        let mut guard = CancelOnDrop {
            shared: &self.shared,
            op: Some(op),
        };
        let result = rx.await;
        guard.op = None;
        match result {
            Ok(result) => result.outcome.map_err(Error::from),
            Err(_) => Err(Error::Op(OpError::Shutdown)),
        }
    }

    /// Runs `request` to its end and returns its whole result: the outcome with the
    /// lookup's counters (queries, answers, rounds) and the queries sent, e.g. to
    /// count the round trips of a one-hop get. Cancel safe, as the typed methods.
    ///
    /// Errors: only [`OpError::Shutdown`] when the node stops first; the
    /// operation's own failure is in the result's `outcome`.
    pub async fn request(&self, request: Request) -> Result<OpResult, Error> {
        let (op, rx) = self.start(request);
        let mut guard = CancelOnDrop {
            shared: &self.shared,
            op: Some(op),
        };
        let result = rx.await;
        guard.op = None;
        result.map_err(|_| Error::Op(OpError::Shutdown))
    }

    /// Joins (or re-joins) the network now and waits until the bootstrap lookup
    /// ends; returns the routing table size.
    pub async fn bootstrap(&self) -> Result<usize, Error> {
        typed(
            self.run(Request::Bootstrap).await,
            Outcome::into_bootstrapped,
        )
    }

    /// Stores `value` as a BEP 44 immutable item on the k nodes closest to its key,
    /// and keeps re-publishing it until [`NodeHandle::unpublish`] or shutdown.
    /// The key is SHA-1 of the bencoded value (`<len>:<value>`).
    ///
    /// Errors: [`OpError::BadInput`] if the bencoded value exceeds 1000 bytes,
    /// [`OpError::NoRoute`], [`OpError::Timeout`], [`OpError::NotStored`].
    pub async fn put(&self, value: &[u8]) -> Result<PutResult, Error> {
        self.put_bencoded(bencode::encode_bytes(value)).await
    }

    /// Like [`NodeHandle::put`], with `v` given already bencoded (any bencoded value).
    pub async fn put_bencoded(&self, v: Vec<u8>) -> Result<PutResult, Error> {
        typed(self.run(Request::Put(v)).await, Outcome::into_stored)
    }

    /// Stops re-publishing the item with this key (it expires from the network
    /// after its time to live).
    pub fn unpublish(&self, key: Id) -> bool {
        self.shared.node.unpublish(&key)
    }

    /// The value of the immutable item `key`: the byte string if the item's value is
    /// one (as [`NodeHandle::put`] stores), else its bencoding. `None` if no node has it.
    pub async fn get(&self, key: Id) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .get_bencoded(key)
            .await?
            .map(|v| match bencode::decode_bytes(&v) {
                Some(bytes) => bytes.to_vec(),
                None => v,
            }))
    }

    /// The bencoded value of the immutable item `key`, exactly as stored.
    pub async fn get_bencoded(&self, key: Id) -> Result<Option<Vec<u8>>, Error> {
        typed(self.run(Request::Get(key)).await, Outcome::into_value)
    }

    /// Announces that this host serves `info_hash` on `port` (`None`: the node's UDP
    /// port, sent as `implied_port`). Returns how many nodes acknowledged.
    pub async fn announce(&self, info_hash: Id, port: Option<u16>) -> Result<usize, Error> {
        self.announce_as(info_hash, port, false).await
    }

    /// [`NodeHandle::announce`], saying whether this host is a seed of the torrent
    /// (has all of it: BEP 33 `seed: 1`), which scrapes count apart.
    pub async fn announce_as(
        &self,
        info_hash: Id,
        port: Option<u16>,
        seed: bool,
    ) -> Result<usize, Error> {
        let request = Request::Announce {
            info_hash,
            port,
            seed,
        };
        typed(self.run(request).await, Outcome::into_announced)
    }

    /// Estimated seeds and peers of `info_hash` (BEP 33 scrape): the bloom filters
    /// of the k closest nodes united and counted.
    pub async fn scrape(&self, info_hash: Id) -> Result<ScrapeEstimate, Error> {
        typed(
            self.run(Request::Scrape(info_hash)).await,
            Outcome::into_scrape,
        )
    }

    /// Info-hashes stored by the nodes around `target` (BEP 51 `sample_infohashes`
    /// along a lookup of `target`). A node answers one source once per
    /// [`SAMPLE_INTERVAL`](crate::rpc::SAMPLE_INTERVAL); walk the keyspace with
    /// different targets to see more.
    pub async fn sample_infohashes(&self, target: Id) -> Result<InfohashSamples, Error> {
        typed(
            self.run(Request::SampleInfohashes(target)).await,
            Outcome::into_samples,
        )
    }

    /// Peers announced for `info_hash` (possibly none).
    pub async fn get_peers(&self, info_hash: Id) -> Result<Vec<SocketAddr>, Error> {
        typed(
            self.run(Request::GetPeers(info_hash)).await,
            Outcome::into_peers,
        )
    }

    /// The k nodes closest to `target` in the network, nearest first.
    pub async fn find_node(&self, target: Id) -> Result<Vec<NodeInfo>, Error> {
        typed(
            self.run(Request::FindNode(target)).await,
            Outcome::into_nodes,
        )
    }

    /// Broadcasts `payload`, signed by `key` as its broadcast number `seq`, to every
    /// node of `range` that accepts it ([`KeyRange::ALL`]: every node). When the
    /// range does not hold this node, a lookup of its prefix finds the way in first.
    /// Returns how many hand-offs this node sent (0: no contact known to speak the
    /// extension was in the range). Each accepting node reports it on its
    /// [`broadcasts`](Self::broadcasts) stream.
    ///
    /// Errors: [`Error::BadInput`] for a payload over [`crate::push::MAX_PAYLOAD`]
    /// bytes. Cancel safe: dropped during the lookup, nothing is sent.
    pub async fn broadcast(
        &self,
        key: &SigningKey,
        seq: i64,
        range: KeyRange,
        payload: &[u8],
    ) -> Result<usize, Error> {
        let b = Broadcast::sign(key, seq, range, payload)
            .map_err(|e| Error::BadInput(e.to_string()))?;
        let entry = if range.contains(&self.id()) {
            Vec::new()
        } else {
            self.find_node(range.prefix()).await.unwrap_or_default()
        };
        let mut out = Output::new();
        let node = &self.shared.node;
        let beta = usize::from(node.config().broadcast.beta);
        let sent = node.broadcast(b, &entry, beta, self.shared.now(), &mut out);
        self.shared.flush(&mut out);
        Ok(sent)
    }

    /// The broadcasts this node delivers from now on, each once: a stream that
    /// ends when the node shuts down. A subscriber more than [`BROADCAST_QUEUE`]
    /// behind misses the oldest (its `recv` says how many).
    pub fn broadcasts(&self) -> tokio::sync::broadcast::Receiver<Broadcast> {
        self.shared.delivered.subscribe()
    }

    /// Pings one address and returns its node id.
    pub async fn ping(&self, addr: SocketAddr) -> Result<Id, Error> {
        typed(self.run(Request::Ping(addr)).await, Outcome::into_pong)
    }

    /// The sans-I/O node behind this handle, for inspection (its routing table,
    /// store and counters).
    pub fn node(&self) -> &Node {
        &self.shared.node
    }

    /// A snapshot of the routing table's contacts.
    pub fn routing_table(&self) -> Vec<NodeInfo> {
        self.shared.node.contacts()
    }

    /// Counters: packets, queries by method, lookups, store size, drops.
    pub fn stats(&self) -> NodeStats {
        self.shared.node.stats()
    }

    /// The bound UDP address (the IPv4 one on a dual-stack node).
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The bound IPv6 address of a dual-stack node (BEP 32); `None` with one socket.
    pub fn local_addr6(&self) -> Option<SocketAddr> {
        self.shared.v6.as_ref().map(|s| s.local_addr)
    }

    /// The node id.
    pub fn id(&self) -> Id {
        self.shared.node.id()
    }

    /// Stops the node: saves the routing table (if a state path is set), fails
    /// the operations still running with [`OpError::Shutdown`], and waits until its
    /// tasks have ended. The socket closes once every clone of the handle is dropped
    /// too; dropping all clones without calling this also stops the node.
    ///
    /// A one-hop member first announces its departure, so the other members drop it
    /// at once rather than after missing its answers (sent once: nothing is retried
    /// after the stop). Dropping the handles instead leaves like a crash.
    pub async fn shutdown(&self) {
        if self.shared.node.is_one_hop() && !self.shared.closed.load(Ordering::SeqCst) {
            let mut out = Output::new();
            if self.shared.node.leave(self.shared.now(), &mut out) {
                self.shared.flush(&mut out);
            }
        }
        let _ = begin_shutdown(&self.shared);
        let tasks = std::mem::take(&mut *self.shared.tasks.lock());
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// A node whose methods block the calling thread, on the runtime blocking nodes
/// share or on one of its own (see [`runtime`]).
///
/// Safe to share between threads (`&self` methods): many threads may wait on it at
/// once, each on its own operation. Its methods must not be called from inside a
/// tokio runtime.
pub struct BlockingNode {
    /// Dropped before `runtime`, so the node's tasks end before it may shut down.
    handle: NodeHandle,
    runtime: Lease,
}

impl std::fmt::Debug for BlockingNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.handle.fmt(f)
    }
}

impl BlockingNode {
    /// The async handle, for use on this node's runtime.
    pub fn handle(&self) -> &NodeHandle {
        &self.handle
    }

    /// The runtime the node runs on (shared or dedicated), to spawn tasks onto.
    pub fn runtime(&self) -> &tokio::runtime::Handle {
        self.runtime.handle()
    }

    /// See [`NodeHandle::bootstrap`].
    pub fn bootstrap(&self) -> Result<usize, Error> {
        self.runtime.handle().block_on(self.handle.bootstrap())
    }
    /// See [`NodeHandle::put`].
    pub fn put(&self, value: &[u8]) -> Result<PutResult, Error> {
        self.runtime.handle().block_on(self.handle.put(value))
    }
    /// See [`NodeHandle::unpublish`].
    pub fn unpublish(&self, key: Id) -> bool {
        self.handle.unpublish(key)
    }
    /// See [`NodeHandle::get`].
    pub fn get(&self, key: Id) -> Result<Option<Vec<u8>>, Error> {
        self.runtime.handle().block_on(self.handle.get(key))
    }
    /// See [`NodeHandle::announce`].
    pub fn announce(&self, info_hash: Id, port: Option<u16>) -> Result<usize, Error> {
        self.runtime
            .handle()
            .block_on(self.handle.announce(info_hash, port))
    }
    /// See [`NodeHandle::announce_as`].
    pub fn announce_as(
        &self,
        info_hash: Id,
        port: Option<u16>,
        seed: bool,
    ) -> Result<usize, Error> {
        self.runtime
            .handle()
            .block_on(self.handle.announce_as(info_hash, port, seed))
    }
    /// See [`NodeHandle::scrape`].
    pub fn scrape(&self, info_hash: Id) -> Result<ScrapeEstimate, Error> {
        self.runtime
            .handle()
            .block_on(self.handle.scrape(info_hash))
    }
    /// See [`NodeHandle::sample_infohashes`].
    pub fn sample_infohashes(&self, target: Id) -> Result<InfohashSamples, Error> {
        self.runtime
            .handle()
            .block_on(self.handle.sample_infohashes(target))
    }
    /// See [`NodeHandle::get_peers`].
    pub fn get_peers(&self, info_hash: Id) -> Result<Vec<SocketAddr>, Error> {
        self.runtime
            .handle()
            .block_on(self.handle.get_peers(info_hash))
    }
    /// See [`NodeHandle::find_node`].
    pub fn find_node(&self, target: Id) -> Result<Vec<NodeInfo>, Error> {
        self.runtime
            .handle()
            .block_on(self.handle.find_node(target))
    }
    /// See [`NodeHandle::broadcast`].
    pub fn broadcast(
        &self,
        key: &SigningKey,
        seq: i64,
        range: KeyRange,
        payload: &[u8],
    ) -> Result<usize, Error> {
        self.runtime
            .handle()
            .block_on(self.handle.broadcast(key, seq, range, payload))
    }
    /// See [`NodeHandle::broadcasts`]; read it with `blocking_recv`.
    pub fn broadcasts(&self) -> tokio::sync::broadcast::Receiver<Broadcast> {
        self.handle.broadcasts()
    }
    /// See [`NodeHandle::ping`].
    pub fn ping(&self, addr: SocketAddr) -> Result<Id, Error> {
        self.runtime.handle().block_on(self.handle.ping(addr))
    }
    /// See [`NodeHandle::routing_table`].
    pub fn routing_table(&self) -> Vec<NodeInfo> {
        self.handle.routing_table()
    }
    /// See [`NodeHandle::stats`].
    pub fn stats(&self) -> NodeStats {
        self.handle.stats()
    }
    /// See [`NodeHandle::local_addr`].
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }
    /// See [`NodeHandle::local_addr6`].
    pub fn local_addr6(&self) -> Option<SocketAddr> {
        self.handle.local_addr6()
    }
    /// See [`NodeHandle::id`].
    pub fn id(&self) -> Id {
        self.handle.id()
    }
    /// See [`NodeHandle::shutdown`]. Also called on drop.
    pub fn shutdown(&self) {
        self.runtime.handle().block_on(self.handle.shutdown());
    }
}

impl Drop for BlockingNode {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_id_follows_given_then_saved_then_bep42() {
        let ip: IpAddr = "124.31.75.21".parse().expect("address");
        let fits: Id = "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"
            .parse()
            .expect("id");
        let other = Id::from_bytes([7; 20]);
        assert!(!bep42::id_conforms(&other, ip));
        assert_eq!(pick_id(Some(other), Some(fits), Some(ip)), other);
        assert_eq!(pick_id(None, Some(fits), Some(ip)), fits);
        assert_eq!(pick_id(None, Some(other), None), other);
        // A saved id that does not fit the given address is replaced.
        let derived = pick_id(None, Some(other), Some(ip));
        assert_ne!(derived, other);
        assert!(bep42::id_conforms(&derived, ip));
        assert!(bep42::id_conforms(&pick_id(None, None, Some(ip)), ip));
    }

    #[test]
    fn the_builder_sets_bep42_enforcement() {
        let b = NodeBuilder::new();
        assert!(!b.config.routing.enforce_bep42);
        assert!(b.enforce_bep42(true).config.routing.enforce_bep42);
    }

    fn refused(builder: NodeBuilder) -> String {
        match builder.start_blocking() {
            Err(Error::BadInput(reason)) => reason,
            Err(other) => panic!("expected bad input, got {other}"),
            Ok(_) => panic!("expected bad input, the node started"),
        }
    }

    #[test]
    fn the_builder_refuses_values_out_of_range_before_binding() {
        let b = || NodeBuilder::new().bind("127.0.0.1:0");
        assert_eq!(refused(b().k(0)), "k must be between 1 and 1024, got 0");
        assert!(refused(b().alpha(0)).starts_with("alpha must be"));
        assert!(refused(b().dedicated_runtime(0)).starts_with("workers must be"));
        assert!(refused(b().receivers(0)).starts_with("receivers must be"));
        let (floor, ceiling) = (Duration::from_secs(2), Duration::from_secs(1));
        assert!(refused(b().query_timeout(floor, ceiling)).contains("timeout_ceiling"));
        assert!(refused(b().configure(|c| c.max_in_flight = 0)).starts_with("max_in_flight"));
    }

    #[test]
    fn configure_keeps_the_other_settings_whatever_the_order() {
        let b = NodeBuilder::new()
            .k(16)
            .configure(|c| c.max_in_flight = 64)
            .alpha(5);
        assert_eq!(b.config_ref().max_in_flight, 64);
        assert_eq!(
            (b.config_ref().lookup.k, b.config_ref().routing.k),
            (16, 16)
        );
        assert_eq!(b.config_ref().lookup.alpha, 5);
        b.validate().expect("valid");
    }
}
