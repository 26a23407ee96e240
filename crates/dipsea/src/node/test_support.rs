//! Helpers shared by the node's unit tests.

use std::net::SocketAddr;
use std::time::Duration;

use rand::SeedableRng;

use super::{Event, Node, NodeConfig, Output};
use crate::id::Id;
use crate::time::Time;
use crate::wire::{self, Message, MessageKind, QueryMethod};

pub(crate) fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

pub(crate) fn node_with_router(router: SocketAddr) -> Node {
    let config = NodeConfig {
        bootstrap: vec![router],
        ..NodeConfig::default()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    Node::with_rng(Id::random_with(&mut rng), config, Time::ZERO, &mut rng)
}

/// Ticks the node at its deadlines until `until`, counting datagrams per
/// destination.
pub(crate) fn run_silent(node: &Node, until: Time, out: &mut Output) -> (Vec<Time>, Vec<Event>) {
    let mut sends = Vec::new();
    let mut events = Vec::new();
    let mut now = Time::ZERO;
    while now < until {
        node.tick(now, out);
        for _ in out.datagrams() {
            sends.push(now);
        }
        events.append(&mut out.events);
        out.clear();
        now = node.next_deadline().max(now + Duration::from_millis(1));
    }
    (sends, events)
}

/// An encoded ping from `id` with transaction id `tid`.
pub(crate) fn ping_from(id: Id, tid: &[u8]) -> Vec<u8> {
    let msg = Message::query(tid, id, QueryMethod::Ping);
    let mut buf = Vec::new();
    msg.encode(&mut buf);
    buf
}

/// The replies (responses and errors) in `out`, decoded: the node may also send
/// queries of its own (a ping to a new contact).
pub(crate) fn replies(out: &Output) -> Vec<MessageKind<'_>> {
    out.datagrams()
        .filter_map(|(_, d)| wire::decode(d).ok())
        .map(|m| m.kind)
        .filter(|k| !matches!(k, MessageKind::Query(_)))
        .collect()
}
