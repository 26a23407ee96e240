//! Put and get on loopback: a seed node and two nodes that join through it, all in
//! this process on 127.0.0.1. One stores a value (a BEP 44 immutable item), the other
//! fetches it by its key; then a torrent is announced and its peers looked up.
//!
//! ```sh
//! cargo run -p dipsea --example put_get
//! ```

use dipsea::{BlockingNode, Id, NodeBuilder};

/// Starts a node on a free loopback port, joining through `seed` when given.
fn start(seed: Option<String>) -> Result<BlockingNode, dipsea::Error> {
    NodeBuilder::new()
        .bind("127.0.0.1:0")
        // The seed (no bootstrap address) starts a network of its own instead of
        // joining the public DHT through the default routers.
        .no_default_routers(seed.is_none())
        .bootstrap(seed)
        .start_blocking() // a node with its own tokio runtime, blocking methods
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed = start(None)?;
    let seed_addr = seed.local_addr().to_string();
    println!("seed node on {seed_addr}");

    let alice = start(Some(seed_addr.clone()))?;
    let bob = start(Some(seed_addr))?;
    alice.bootstrap()?;
    let known = bob.bootstrap()?;
    println!("bob knows {known} nodes");

    // The key of an immutable item is the SHA-1 of its bencoding.
    let put = alice.put(b"hello from Rust")?;
    println!(
        "alice stored it on {} node(s) under {}",
        put.stored, put.key
    );
    let value = bob.get(put.key)?.ok_or("bob found no value")?;
    println!("bob got {:?}", String::from_utf8_lossy(&value));
    assert_eq!(value, b"hello from Rust");

    // Peers of a torrent: announce a port from one node, look them up from another.
    let info_hash = Id::sha1(b"my torrent");
    alice.announce(info_hash, Some(51413))?;
    let peers = bob.get_peers(info_hash)?;
    println!("peers of {info_hash}: {peers:?}");

    let stats = seed.stats();
    println!(
        "seed: {} packets in, {} out, {} items stored",
        stats.packets_in, stats.packets_out, stats.items
    );
    for node in [&bob, &alice, &seed] {
        node.shutdown();
    }
    Ok(())
}
