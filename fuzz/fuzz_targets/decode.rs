//! Fuzzes the KRPC decoder: it must never panic, and whatever it accepts must survive
//! a round trip (`decode(encode(m)) == m`) and re-encode to the same bytes.
//!
//! Seed corpus: `fuzz/corpus/decode/` (real messages from libtorrent, bittorrent-dht
//! and mainline, plus hand-made edge cases). Run: `cargo fuzz run decode`.
#![no_main]

use dipsea::wire::{bencode, decode, query_tid};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = query_tid(data);
    let Ok(msg) = decode(data) else {
        return;
    };
    let mut out = Vec::new();
    msg.encode(&mut out);
    // Re-encoding may add a few bytes (an implicit `port`, an empty error message);
    // past the datagram limit the decoder rightly refuses it.
    if out.len() > bencode::MAX_MESSAGE_LEN {
        return;
    }
    let again = decode(&out).expect("an encoded message decodes");
    assert_eq!(again, msg, "round trip changed the message");
    let mut out2 = Vec::new();
    again.encode(&mut out2);
    assert_eq!(out2, out, "encoding is not canonical");
});
