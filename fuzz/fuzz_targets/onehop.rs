//! Fuzzes the one-hop overlay's input: a membership event payload
//! (`MemberEvent::decode`) must never panic and whatever it accepts must round-trip;
//! and a one-hop node fed any datagram (the bytes as they are, and tagged with its
//! network so they pass the `zn` check: `dipsea_members`, `dipsea_digest`, their
//! answers, broadcasts of membership events) must never panic.
//!
//! Seed corpus: `fuzz/corpus/onehop/` (a members query with a cursor, a digest
//! query, a digest answer with its range `digests`, a members answer with its
//! signed joins in `proofs`, a join and a departure payload). Run: `cargo fuzz run onehop`.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;

use dipsea::node::{NetworkId, Output};
use dipsea::onehop::{MemberEvent, OneHopConfig, Overlay};
use dipsea::push::AcceptPolicy;
use dipsea::{Id, Node, NodeConfig, Time};
use libfuzzer_sys::fuzz_target;

fn network() -> NetworkId {
    NetworkId::from_name("fuzz").expect("a name")
}

fn node() -> &'static Node {
    static NODE: OnceLock<Node> = OnceLock::new();
    NODE.get_or_init(|| {
        let mut config = NodeConfig {
            network: Some(network()),
            overlay: Overlay::OneHop(OneHopConfig::default()),
            ..NodeConfig::default()
        };
        config.broadcast.accept = AcceptPolicy::Open;
        let node = Node::new(Id::ZERO, config, Time::ZERO);
        node.set_member_addr(SocketAddr::from(([127, 0, 0, 1], 6881)));
        node
    })
}

fuzz_target!(|data: &[u8]| {
    if let Some(event) = MemberEvent::decode(data) {
        assert_eq!(MemberEvent::decode(&event.encode()), Some(event));
    }
    let node = node();
    let from = SocketAddr::from(([10, 0, 0, 1], 6881));
    let mut out = Output::new();
    node.handle_datagram(from, data, Time::ZERO, &mut out);
    if let Some(body) = data.strip_suffix(b"e") {
        let mut tagged = body.to_vec();
        tagged.extend_from_slice(b"2:zn8:");
        tagged.extend_from_slice(network().as_bytes());
        tagged.push(b'e');
        node.handle_datagram(from, &tagged, Time::ZERO, &mut out);
    }
    node.tick(Time::from_millis(10_000), &mut out);
});
