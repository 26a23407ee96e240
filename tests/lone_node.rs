//! The setup of the tests that send queries to one node over the wire and check how
//! it answers and counts them (`write_protection`, `write_protection_mutable`): a lone
//! loopback node, bare KRPC clients on chosen loopback addresses, and a time limit.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use dipsea::{NodeHandle, NodeStats};

use crate::krpc_client::KrpcClient;

/// A test fails instead of hanging past this.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Runs `test`, failing it if it takes longer than [`LIMIT`].
pub async fn within_limit(test: impl Future<Output = ()>) {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("test ran past its time limit");
}

/// A node on loopback that knows no other node, and the address it answers on.
#[derive(Debug)]
pub struct LoneNode {
    /// The node.
    pub node: NodeHandle,
    /// Its address.
    pub addr: SocketAddr,
}

impl LoneNode {
    /// Starts the node (it never looks for the public DHT).
    pub async fn spawn() -> LoneNode {
        let node = crate::loopback_builder()
            .spawn()
            .await
            .expect("node starts");
        let addr = node.local_addr();
        LoneNode { node, addr }
    }

    /// A client on a free port of `ip` (any address of 127.0.0.0/8).
    pub async fn client(&self, ip: Ipv4Addr) -> KrpcClient {
        KrpcClient::bind(ip).await.expect("client binds")
    }

    /// The node's counters now.
    pub fn stats(&self) -> NodeStats {
        self.node.stats()
    }

    /// Shuts the node down.
    pub async fn shutdown(self) {
        self.node.shutdown().await;
    }
}
