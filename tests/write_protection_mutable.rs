//! BEP 44 mutable puts over real UDP: each refusal gets its KRPC error code, is
//! counted in its own counter of `stats()` and in no other, and leaves the stored
//! version alone: a bad signature (206, `bad_signature`), a sequence number older
//! than the stored one (302, `seq_too_old`), a compare-and-swap mismatch (301,
//! `cas_mismatch`), a salt over 64 bytes (207, `salt_too_big`), a value over 1,000
//! bytes (205, `value_too_big`), a `target` that is not SHA-1(key + salt) (203,
//! `target_mismatch`), a put without `seq` (203, `malformed`: it does not decode).
//!
//! The client is a plain socket on its own loopback address (the node and clients
//! as in `write_protection`). Loopback only, bounded in time.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use dipsea::keypair::{mutable_target, Keypair};
use dipsea::wire::bencode::encode_bytes;
use dipsea::wire::{error_code, PutArgs, QueryMethod};
use dipsea::{Id, NodeStats};
use dipsea_tests::krpc_client::Reply;
use dipsea_tests::lone_node::{within_limit, LoneNode};

/// A mutable item as a put carries it (sent under the test's public key, whoever
/// signed it).
struct Item {
    salt: Vec<u8>,
    /// `None`: the put leaves `seq` out (bad arguments).
    seq: Option<i64>,
    cas: Option<i64>,
    target: Option<Id>,
    v: Vec<u8>,
    sig: [u8; 64],
}

impl Item {
    fn signed(keypair: &Keypair, salt: &[u8], seq: i64, value: &[u8]) -> Item {
        let v = encode_bytes(value);
        Item {
            salt: salt.to_vec(),
            seq: Some(seq),
            cas: None,
            target: None,
            sig: keypair.sign(salt, seq, &v),
            v,
        }
    }

    fn args<'a>(&'a self, token: &'a [u8], k: &'a [u8; 32]) -> QueryMethod<'a> {
        QueryMethod::Put(PutArgs {
            k: Some(k),
            salt: Some(&self.salt)
                .filter(|s| !s.is_empty())
                .map(|s| s.as_slice()),
            seq: self.seq,
            cas: self.cas,
            sig: Some(&self.sig),
            target: self.target,
            ..PutArgs::immutable(token, &self.v)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refused_mutable_put_gets_its_error_and_is_counted() {
    within_limit(refusals()).await;
}

/// The counters of refused queries, one per reason (the others, traffic and store
/// gauges, move with every query).
const REFUSALS: [&str; 12] = [
    "malformed",
    "bad_token",
    "over_quota",
    "refused",
    "sample_refused",
    "bad_signature",
    "seq_too_old",
    "cas_mismatch",
    "salt_too_big",
    "value_too_big",
    "target_mismatch",
    "unknown_method",
];

/// Every counter of `stats`, by name.
fn counters(stats: &NodeStats) -> HashMap<&'static str, u64> {
    stats.counters().collect()
}

async fn refusals() {
    let node = LoneNode::spawn().await;
    let to = node.addr;
    let mut client = node.client(Ipv4Addr::new(127, 5, 0, 1)).await;
    let token = client.token(to).await;
    let keypair = Keypair::random();
    let k = keypair.public_key();
    let salt = b"topic".as_slice();
    let target = mutable_target(&k, salt);
    let put = |item: &Item| -> Vec<u8> {
        let mut out = Vec::new();
        dipsea::wire::Message::query(b"mp", Id::random(), item.args(&token, &k)).encode(&mut out);
        out
    };
    let stored_seq = |reply: Reply| match reply {
        Reply::Response { seq, .. } => seq,
        Reply::Error(code) => panic!("get answered {code}"),
    };

    // The first version, seq 5, is stored.
    let v5 = Item::signed(&keypair, salt, 5, b"version five");
    assert_eq!(client.ask_raw(to, b"mp", &put(&v5)).await.code(), None);

    // Each refusal: its code, one more in its own counter and no other, and seq 5
    // still stored.
    let mut bad_sig = Item::signed(&keypair, salt, 6, b"forged");
    bad_sig.sig[0] ^= 1;
    let other_key = Item::signed(&Keypair::random(), salt, 6, b"someone else");
    let old = Item::signed(&keypair, salt, 4, b"version four");
    let mut cas = Item::signed(&keypair, salt, 6, b"compare and swap");
    cas.cas = Some(4);
    let long_salt = vec![b's'; 65];
    let salty = Item::signed(&keypair, &long_salt, 6, b"salty");
    let big = Item::signed(&keypair, salt, 6, &[b'x'; 997]);
    assert_eq!(big.v.len(), 1001);
    let mut elsewhere = Item::signed(&keypair, salt, 6, b"elsewhere");
    elsewhere.target = Some(Id::sha1(b"not SHA-1(k + salt)"));
    let mut no_seq = Item::signed(&keypair, salt, 6, b"no seq");
    no_seq.seq = None;
    for (what, item, code, counter) in [
        (
            "bad signature",
            &bad_sig,
            error_code::INVALID_SIGNATURE,
            "bad_signature",
        ),
        (
            "another key's signature",
            &other_key,
            error_code::INVALID_SIGNATURE,
            "bad_signature",
        ),
        (
            "seq older than stored",
            &old,
            error_code::SEQ_TOO_OLD,
            "seq_too_old",
        ),
        (
            "cas mismatch",
            &cas,
            error_code::CAS_MISMATCH,
            "cas_mismatch",
        ),
        (
            "salt over 64 bytes",
            &salty,
            error_code::SALT_TOO_BIG,
            "salt_too_big",
        ),
        (
            "value over 1000 bytes",
            &big,
            error_code::MESSAGE_TOO_BIG,
            "value_too_big",
        ),
        (
            "target not SHA-1(k + salt)",
            &elsewhere,
            error_code::PROTOCOL,
            "target_mismatch",
        ),
        // The strict decoder refuses it before the answerer sees it.
        ("no seq", &no_seq, error_code::PROTOCOL, "malformed"),
    ] {
        let before = counters(&node.stats());
        let reply = client.ask_raw(to, b"mp", &put(item)).await;
        assert_eq!(reply.code(), Some(code), "{what}: {reply:?}");
        let after = counters(&node.stats());
        assert_eq!(after[counter], before[counter] + 1, "{what}: not counted");
        for name in REFUSALS.iter().filter(|name| **name != counter) {
            assert_eq!(after[name], before[name], "{what}: counted in {name} too");
        }
        let now = client.ask(to, QueryMethod::Get { target, seq: None }).await;
        assert_eq!(stored_seq(now), Some(5), "{what} changed the stored item");
    }

    // The right cas (5) and a newer seq replace it.
    let mut next = Item::signed(&keypair, salt, 6, b"version six");
    next.cas = Some(5);
    assert_eq!(client.ask_raw(to, b"mp", &put(&next)).await.code(), None);
    let got = client.ask(to, QueryMethod::Get { target, seq: None }).await;
    assert_eq!(
        got,
        Reply::Response {
            token: Some(token.clone()),
            v: Some(next.v.clone()),
            seq: Some(6)
        }
    );
    // A get with seq 6 is answered without the value (BEP 44: nothing newer).
    let short = client
        .ask(
            to,
            QueryMethod::Get {
                target,
                seq: Some(6),
            },
        )
        .await;
    assert!(
        matches!(
            short,
            Reply::Response {
                v: None,
                seq: Some(6),
                ..
            }
        ),
        "{short:?}"
    );
    let stats = node.stats();
    let counted = [
        stats.bad_signature,
        stats.seq_too_old,
        stats.cas_mismatch,
        stats.salt_too_big,
        stats.value_too_big,
        stats.target_mismatch,
        stats.malformed,
        stats.refused,
    ];
    assert_eq!(counted, [2, 1, 1, 1, 1, 1, 1, 0], "{stats:?}");
    node.shutdown().await;
}
