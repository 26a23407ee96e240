//! Fuzzes the subscription queries (`dipsea_sub`, `dipsea_notify`, `dipsea_peers`):
//! their decoders must never panic, whatever they accept must round-trip
//! (`decode(encode(q)) == q`, canonical bytes), and the checks a node makes of them (a storing node's table of
//! subscribers, a subscriber's verification of a pushed item) must never panic.
//!
//! Seed corpus: `fuzz/corpus/subscribe/` (subscribe, renew, unsubscribe, a
//! subscription to an info-hash's peers, signed notifications with and without salt,
//! a peers notification); `make test` replays it
//! (`wire::subscribe::tests::fuzz_corpus_replays`). Run: `cargo fuzz run subscribe`.
#![no_main]

use std::net::SocketAddr;

use dipsea::rpc::signature::SignatureCache;
use dipsea::subscribe::{verify_notify, Holders, SubscribeConfig};
use dipsea::wire::bencode;
use dipsea::wire::subscribe::{decode_notify, decode_peers, decode_subscribe};
use dipsea::Time;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(q) = decode_subscribe(data) {
        let mut out = Vec::new();
        q.encode(&mut out);
        if out.len() <= bencode::MAX_MESSAGE_LEN {
            let again = decode_subscribe(&out).expect("an encoded subscribe decodes");
            assert_eq!(again, q, "round trip changed the subscribe");
        }
        let mut holders = Holders::new();
        let from = SocketAddr::from(([10, 0, 0, 1], 6881));
        let expires = Time::from_millis(u64::from(q.lease) * 1_000);
        let _ = holders.subscribe(q.target, from, q.id, expires, &SubscribeConfig::default());
        let _ = holders.to_notify(&q.target, 1, Time::ZERO);
        let _ = holders.live(&dipsea::subscribe::peers_key(&q.target), Time::ZERO);
        holders.expire(expires);
        assert!(holders.is_empty());
    }
    if let Ok(q) = decode_peers(data) {
        let mut out = Vec::new();
        q.encode(&mut out);
        if out.len() <= bencode::MAX_MESSAGE_LEN {
            let again = decode_peers(&out).expect("an encoded peers notify decodes");
            assert_eq!(again, q, "round trip changed the peers notify");
        }
        assert!(q.peers.iter().count() == q.peers.len());
    }
    if let Ok(q) = decode_notify(data) {
        let mut out = Vec::new();
        q.encode(&mut out);
        if out.len() <= bencode::MAX_MESSAGE_LEN {
            let again = decode_notify(&out).expect("an encoded notify decodes");
            assert_eq!(again, q, "round trip changed the notify");
            let mut out2 = Vec::new();
            again.encode(&mut out2);
            assert_eq!(out2, out, "encoding is not canonical");
        }
        let _ = verify_notify(&q, &SignatureCache::new());
    }
});
