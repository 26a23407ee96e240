//! Fuzzes the query answerer: any datagram that decodes as a query is answered from
//! a populated routing table and store; the answerer must never panic, and its reply
//! must itself decode as a KRPC response or error carrying the query's transaction id.
//!
//! Seed corpus: `fuzz/corpus/answer/` (queries of every method). Run:
//! `cargo fuzz run answer`.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;

use dipsea::routing::{RoutingConfig, RoutingTable};
use dipsea::rpc::{answer, token::Tokens, Context, SampleLimiter};
use dipsea::wire::{decode, MessageKind};
use dipsea::{Id, NodeInfo, Store, StoreConfig, Time};
use libfuzzer_sys::fuzz_target;

struct State {
    routing: RoutingTable,
    store: Store,
    tokens: Tokens,
    samples: SampleLimiter,
}

fn state() -> &'static State {
    static STATE: OnceLock<State> = OnceLock::new();
    STATE.get_or_init(|| {
        let own = Id::sha1(b"fuzz node");
        let routing = RoutingTable::new(own, RoutingConfig::default());
        for i in 0u32..400 {
            let id = Id::sha1(&i.to_be_bytes());
            let addr: SocketAddr = if i % 5 == 0 {
                format!("[::1]:{}", 1000 + i).parse().expect("v6")
            } else {
                format!("127.0.{}.{}:{}", i / 250, i % 250, 1000 + i).parse().expect("v4")
            };
            let _ = routing.on_response(NodeInfo::new(id, addr), Time::ZERO);
        }
        let store = Store::new(own, StoreConfig::default());
        for i in 0u32..50 {
            let v = format!("{}:item{i}", format!("item{i}").len());
            let _ = store.put_immutable(Id::sha1(v.as_bytes()), v.as_bytes(), Time::ZERO);
            let peer: SocketAddr = format!("127.0.0.1:{}", 2000 + i).parse().expect("peer");
            // Seeds and other peers, for scrapes (BEP 33) and samples (BEP 51).
            let _ = store.announce(Id::sha1(&[i as u8]), peer, i % 3 == 0, Time::ZERO);
        }
        State {
            routing,
            store,
            tokens: Tokens::new([7; 16], Time::ZERO),
            // Off: a fuzzer asks from one address, and every sample should be taken.
            samples: SampleLimiter::new(false, false),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = decode(data) else { return };
    let MessageKind::Query(query) = &msg.kind else { return };
    let s = state();
    let ctx = Context {
        own_id: Id::sha1(b"fuzz node"),
        routing: &s.routing,
        routing6: None,
        store: &s.store,
        tokens: &s.tokens,
        version: b"DS\x00\x01",
        samples: &s.samples,
        member_writer: false,
    };
    let from: SocketAddr = "127.0.0.1:6881".parse().expect("addr");
    let mut out = Vec::new();
    answer(&ctx, from, &msg, query, Time::from_millis(1_000), &mut out);
    let reply = decode(&out).expect("the reply decodes");
    assert_eq!(reply.tid, msg.tid, "the reply echoes the transaction id");
    assert!(
        matches!(reply.kind, MessageKind::Response(_) | MessageKind::Error(_)),
        "the reply is a response or an error"
    );
});
