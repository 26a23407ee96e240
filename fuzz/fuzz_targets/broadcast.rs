//! Fuzzes the broadcast query (`dipsea_bcast`): its decoder must never panic,
//! whatever it accepts must round-trip (`decode(encode(q)) == q`, canonical bytes),
//! and the receiving side's checks (bound, range, policy, signature, duplicates)
//! must never panic on it either.
//!
//! Seed corpus: `fuzz/corpus/broadcast/` (signed broadcasts to all nodes and to a
//! key range, one over the payload bound). Run: `cargo fuzz run broadcast`.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use dipsea::push::{AcceptPolicy, BroadcastConfig, Receiver};
use dipsea::wire::{bencode, push::decode_broadcast};
use dipsea::{Id, Time};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = decode_broadcast(data) else {
        return;
    };
    let mut out = Vec::new();
    query.encode(&mut out);
    if out.len() > bencode::MAX_MESSAGE_LEN {
        return;
    }
    let again = decode_broadcast(&out).expect("an encoded broadcast decodes");
    assert_eq!(again, query, "round trip changed the broadcast");
    let mut out2 = Vec::new();
    again.encode(&mut out2);
    assert_eq!(out2, out, "encoding is not canonical");

    let receiver = Receiver::new(BroadcastConfig {
        accept: AcceptPolicy::Open,
        ..BroadcastConfig::default()
    });
    let from = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    for own in [query.args.prefix, Id::ZERO, Id::MAX] {
        let _ = receiver.admit(&own, &query.args, from, Time::ZERO);
    }
});
