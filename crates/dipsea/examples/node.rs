//! A single dipsea node: start it, print its address and id, run for a while, print its
//! counters, shut down.
//!
//! ```sh
//! cargo run -p dipsea --example node                                  # loopback, 2 s
//! cargo run -p dipsea --example node -- 0.0.0.0:6881 60 host:port     # bind, seconds, bootstrap
//! ```
//!
//! Arguments (all optional, in order): the UDP address to bind (default
//! `127.0.0.1:0`, a free loopback port), how many seconds to run (default 2), and
//! nodes to join through, `HOST:PORT` each. Without a bootstrap node it joins no
//! network and waits to be contacted (it does not use the public DHT's default routers). It exits by itself when the time is up.

use std::time::Duration;

use dipsea::NodeBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:0".to_string());
    let seconds: u64 = match args.next() {
        Some(s) => s.parse()?,
        None => 2,
    };
    let bootstrap: Vec<String> = args.collect();

    let node = NodeBuilder::new()
        .bind(bind)
        .no_default_routers(bootstrap.is_empty())
        .bootstrap(bootstrap.iter().cloned())
        .spawn()
        .await?;
    println!("listening on {} id {}", node.local_addr(), node.id());
    if !bootstrap.is_empty() {
        // Joining walks toward our own id through the bootstrap nodes.
        let known = node.bootstrap().await?;
        println!("joined: {known} nodes in the routing table");
    }

    tokio::time::sleep(Duration::from_secs(seconds)).await;

    let stats = node.stats();
    println!(
        "{} packets in, {} out; {} nodes in the table, {} items stored",
        stats.packets_in, stats.packets_out, stats.routing_table_size, stats.items
    );
    node.shutdown().await;
    Ok(())
}
