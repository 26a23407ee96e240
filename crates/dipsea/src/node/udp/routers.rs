//! The public Mainline DHT's well-known routers, and the resolver seam the driver
//! resolves them (and every bootstrap name) through.
//!
//! A [`NodeBuilder`](super::NodeBuilder) given no bootstrap address, no saved state
//! and not [`no_default_routers`](super::NodeBuilder::no_default_routers) joins the
//! public DHT through [`DEFAULT_ROUTERS`]. They are resolved in parallel, each within
//! [`DEFAULT_RESOLVE_TIMEOUT`] (a thread each, so a resolver that hangs delays the
//! start by one timeout, not forever); the node goes on with those that resolved, and
//! fails with [`Error::Io`] ("none of the default routers resolved (offline?) ...")
//! when none did.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::Error;

/// The routers of the public Mainline DHT, `HOST:PORT`, used when a node is given no
/// bootstrap address.
pub const DEFAULT_ROUTERS: [&str; 4] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

/// How long one default router's name may take to resolve. Default 5 s.
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Turns a `HOST:PORT` name into addresses: the system resolver by default
/// ([`SystemResolver`]); tests and applications with their own name service pass
/// another to [`NodeBuilder::resolver`](super::NodeBuilder::resolver).
///
/// It may block (it runs on a thread of its own for the default routers, and on
/// the caller's thread for explicit bootstrap names and the bind address).
pub trait Resolve: Send + Sync {
    /// The addresses `name` stands for, or why there are none.
    fn resolve(&self, name: &str) -> io::Result<Vec<SocketAddr>>;
}

/// The operating system's resolver (`getaddrinfo` through [`ToSocketAddrs`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: &str) -> io::Result<Vec<SocketAddr>> {
        Ok(name.to_socket_addrs()?.collect())
    }
}

impl<F> Resolve for F
where
    F: Fn(&str) -> io::Result<Vec<SocketAddr>> + Send + Sync,
{
    fn resolve(&self, name: &str) -> io::Result<Vec<SocketAddr>> {
        self(name)
    }
}

/// A shared resolver, cloneable with the builder.
#[derive(Clone)]
pub(crate) struct Resolver(pub(crate) Arc<dyn Resolve>);

impl Default for Resolver {
    fn default() -> Self {
        Resolver(Arc::new(SystemResolver))
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

impl Resolver {
    /// The first address of `name`, for a bind or an explicit bootstrap address.
    ///
    /// Errors: [`Error::BadInput`] if it does not resolve.
    pub(crate) fn one(&self, name: &str) -> Result<SocketAddr, Error> {
        self.0
            .resolve(name)
            .map_err(|e| Error::BadInput(format!("cannot resolve {name:?}: {e}")))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::BadInput(format!("{name:?} resolves to no address")))
    }

    /// Resolves `names` in parallel, each within `timeout`, keeping for each the
    /// first address of the family of `local` (IPv4 or IPv6).
    ///
    /// Errors: [`Error::Io`] (kind `NotConnected`) naming each failure when none
    /// resolved.
    pub(crate) async fn routers(
        &self,
        names: &[&str],
        timeout: Duration,
        local: SocketAddr,
    ) -> Result<Vec<SocketAddr>, Error> {
        let pending: Vec<_> = names
            .iter()
            .map(|name| {
                let (tx, rx) = oneshot::channel();
                let resolver = self.0.clone();
                let owned = (*name).to_string();
                // A thread, not `spawn_blocking`: a resolver that never returns must
                // not hold up the runtime's shutdown.
                let spawned = std::thread::Builder::new()
                    .name("dipsea-resolve".into())
                    .spawn(move || {
                        let _ = tx.send(resolver.resolve(&owned));
                    });
                (*name, spawned.map(|_| rx))
            })
            .collect();
        let mut found = Vec::new();
        let mut failures = Vec::new();
        for (name, rx) in pending {
            let answer = match rx {
                Err(e) => Err(e.to_string()),
                Ok(rx) => match tokio::time::timeout(timeout, rx).await {
                    Err(_) => Err(format!("no answer in {} ms", timeout.as_millis())),
                    Ok(Err(_)) => Err("resolver stopped".to_string()),
                    Ok(Ok(Err(e))) => Err(e.to_string()),
                    Ok(Ok(Ok(addrs))) => addrs
                        .into_iter()
                        .find(|a| a.is_ipv4() == local.is_ipv4())
                        .ok_or_else(|| "no address of the bound family".to_string()),
                },
            };
            match answer {
                Ok(addr) => found.push(addr),
                Err(why) => {
                    tracing::warn!(router = name, reason = %why, "default router did not resolve");
                    failures.push(format!("{name}: {why}"));
                }
            }
        }
        if found.is_empty() {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::NotConnected,
                format!(
                    "none of the default routers resolved (offline?): {}; give a bootstrap \
                     address, or no_default_routers for a first node",
                    failures.join("; ")
                ),
            )));
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> SocketAddr {
        "0.0.0.0:0".parse().expect("address")
    }

    #[tokio::test]
    async fn keeps_the_routers_that_resolve_in_the_bound_family() {
        let r = Resolver(Arc::new(|name: &str| -> io::Result<Vec<SocketAddr>> {
            match name {
                "a:1" => Ok(vec![
                    "[::1]:1".parse().expect("v6"),
                    "10.0.0.1:1".parse().expect("v4"),
                ]),
                "b:2" => Err(io::Error::other("no such host")),
                _ => Ok(vec!["[::1]:3".parse().expect("v6")]),
            }
        }));
        let found = r
            .routers(&["a:1", "b:2", "c:3"], Duration::from_secs(1), local())
            .await
            .expect("one resolves");
        assert_eq!(found, vec!["10.0.0.1:1".parse::<SocketAddr>().expect("v4")]);
    }

    #[tokio::test]
    async fn a_hanging_resolver_times_out_with_a_clear_error() {
        let r = Resolver(Arc::new(|_: &str| -> io::Result<Vec<SocketAddr>> {
            std::thread::sleep(Duration::from_secs(30));
            Ok(Vec::new())
        }));
        let started = std::time::Instant::now();
        let err = r
            .routers(&DEFAULT_ROUTERS, Duration::from_millis(50), local())
            .await
            .expect_err("nothing resolves");
        // Parallel: four timeouts of 50 ms take about one, far below the 30 s hang.
        assert!(started.elapsed() < Duration::from_secs(10));
        let msg = err.to_string();
        assert!(
            msg.contains("none of the default routers resolved (offline?)"),
            "{msg}"
        );
        assert!(
            msg.contains("router.bittorrent.com:6881: no answer in 50 ms"),
            "{msg}"
        );
    }

    /// A resolver that records the names asked and answers each with a loopback
    /// address (nothing listens there: the node's bootstrap just goes unanswered).
    fn recording() -> (Arc<parking_lot::Mutex<Vec<String>>>, impl Resolve + 'static) {
        let asked = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let log = asked.clone();
        let resolver = move |name: &str| -> io::Result<Vec<SocketAddr>> {
            log.lock().push(name.to_string());
            if let Ok(addr) = name.parse::<SocketAddr>() {
                return Ok(vec![addr]);
            }
            let port = if name.starts_with("dht.libtorrent") {
                25401
            } else {
                6881
            };
            Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
        };
        (asked, resolver)
    }

    fn builder() -> super::super::NodeBuilder {
        super::super::NodeBuilder::new().bind("127.0.0.1:0")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_with_no_bootstrap_uses_the_default_routers() {
        let (asked, resolver) = recording();
        let node = builder().resolver(resolver).spawn().await.expect("starts");
        let mut names = asked.lock().clone();
        names.sort();
        let mut expected: Vec<String> = DEFAULT_ROUTERS.iter().map(|s| s.to_string()).collect();
        expected.push("127.0.0.1:0".into());
        expected.sort();
        assert_eq!(names, expected);
        assert_eq!(node.node().config().bootstrap.len(), DEFAULT_ROUTERS.len());
        node.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bootstrap_address_or_no_default_routers_replaces_them() {
        let (asked, resolver) = recording();
        let node = builder()
            .resolver(resolver)
            .bootstrap(["seed.example:7000"])
            .spawn()
            .await
            .expect("starts");
        assert_eq!(*asked.lock(), ["127.0.0.1:0", "seed.example:7000"]);
        assert_eq!(node.node().config().bootstrap.len(), 1);
        node.shutdown().await;

        let (asked, resolver) = recording();
        let node = builder()
            .resolver(resolver)
            .no_default_routers(true)
            .spawn()
            .await
            .expect("starts");
        assert_eq!(*asked.lock(), ["127.0.0.1:0"]);
        assert!(node.node().config().bootstrap.is_empty());
        node.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_saved_state_replaces_them() {
        let dir = std::env::temp_dir().join(format!("dipsea-routers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("state.bin");
        let contact = crate::id::NodeInfo::new(
            crate::id::Id::from_bytes([3; 20]),
            SocketAddr::from(([127, 0, 0, 1], 9)),
        );
        super::super::state_file::save(&path, crate::id::Id::from_bytes([1; 20]), &[contact])
            .expect("save");
        let (asked, resolver) = recording();
        let node = builder()
            .resolver(resolver)
            .state_path(&path)
            .spawn()
            .await
            .expect("starts");
        assert_eq!(*asked.lock(), ["127.0.0.1:0"]);
        assert!(node.node().config().bootstrap.is_empty());
        node.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_offline_machine_fails_to_start_with_a_clear_error() {
        let offline = |name: &str| -> io::Result<Vec<SocketAddr>> {
            if name == "127.0.0.1:0" {
                Ok(vec![SocketAddr::from(([127, 0, 0, 1], 0))])
            } else {
                Err(io::Error::other("temporary failure in name resolution"))
            }
        };
        let err = match builder().resolver(offline).start_blocking() {
            Err(e) => e,
            Ok(_) => panic!("an offline node must not start"),
        };
        assert!(matches!(&err, Error::Io(e) if e.kind() == io::ErrorKind::NotConnected));
        assert!(
            err.to_string()
                .contains("none of the default routers resolved (offline?)"),
            "{err}"
        );
    }
}
