//! BEP 44 mutable puts over real UDP: each refusal gets its KRPC error code and is
//! counted in `stats().refused`, and leaves the stored version alone: a bad signature
//! (206), a sequence number older than the stored one (302), a compare-and-swap
//! mismatch (301), a salt over 64 bytes (207), a value over 1,000 bytes (205), a
//! `target` that is not SHA-1(key + salt) (203).
//!
//! The client is a plain socket on its own loopback address. Loopback only, bounded
//! in time.

use std::net::Ipv4Addr;
use std::time::Duration;

use dipsea::keypair::{mutable_target, Keypair};
use dipsea::wire::bencode::encode_bytes;
use dipsea::wire::{error_code, PutArgs, QueryMethod};
use dipsea::{Id, NodeBuilder};
use dipsea_tests::krpc_client::{KrpcClient, Reply};

/// Fails the test instead of hanging past this.
const LIMIT: Duration = Duration::from_secs(30);

/// A mutable item as a put carries it (sent under the test's public key, whoever
/// signed it).
struct Item {
    salt: Vec<u8>,
    seq: i64,
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
            seq,
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
            seq: Some(self.seq),
            cas: self.cas,
            sig: Some(&self.sig),
            target: self.target,
            ..PutArgs::immutable(token, &self.v)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refused_mutable_put_gets_its_error_and_is_counted() {
    tokio::time::timeout(LIMIT, refusals())
        .await
        .expect("test ran past its time limit");
}

async fn refusals() {
    let node = NodeBuilder::new()
        .bind("127.0.0.1:0")
        .no_default_routers(true)
        .spawn()
        .await
        .expect("node starts");
    let to = node.local_addr();
    let mut client = KrpcClient::bind(Ipv4Addr::new(127, 5, 0, 1))
        .await
        .expect("bind");
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
    let mut refused = 0;

    // Each refusal: its code, one more in `refused`, and seq 5 still stored.
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
    for (what, item, code) in [
        ("bad signature", &bad_sig, error_code::INVALID_SIGNATURE),
        (
            "another key's signature",
            &other_key,
            error_code::INVALID_SIGNATURE,
        ),
        ("seq older than stored", &old, error_code::SEQ_TOO_OLD),
        ("cas mismatch", &cas, error_code::CAS_MISMATCH),
        ("salt over 64 bytes", &salty, error_code::SALT_TOO_BIG),
        ("value over 1000 bytes", &big, error_code::MESSAGE_TOO_BIG),
        (
            "target not SHA-1(k + salt)",
            &elsewhere,
            error_code::PROTOCOL,
        ),
    ] {
        let reply = client.ask_raw(to, b"mp", &put(item)).await;
        assert_eq!(reply.code(), Some(code), "{what}: {reply:?}");
        refused += 1;
        assert_eq!(node.stats().refused, refused, "{what} was not counted");
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
    assert_eq!(node.stats().refused, refused);
    node.shutdown().await;
}
