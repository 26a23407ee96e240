//! BEP 44 mutable items on a loopback network of real UDP nodes: put and get from
//! different nodes, automatic and explicit sequence numbers, salts, compare-and-swap
//! and stale sequence numbers as typed errors, `min_seq`, bad input, and the target
//! a put reports (the one `unpublish` takes). Every test is bounded and stops by
//! itself.

use std::time::Duration;

use dipsea::{Error, Keypair, MutablePut, OpError};
use dipsea_tests::{network, shutdown};

/// Fails a test that runs longer than this instead of hanging CI.
const LIMIT: Duration = Duration::from_secs(120);

fn salted(salt: &[u8], seq: Option<i64>, cas: Option<i64>) -> MutablePut {
    MutablePut {
        salt: salt.to_vec(),
        seq,
        cas,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutable_items_are_put_updated_and_got_across_the_network() {
    tokio::time::timeout(LIMIT, scenario())
        .await
        .expect("test ran past its time limit");
}

async fn scenario() {
    let nodes = network(16).await;
    let keypair = Keypair::random();
    let k = keypair.public_key();

    // The first put takes seq 1; the next one finds it and takes 2.
    let first = nodes[1]
        .put_mutable(&keypair, b"first", MutablePut::default())
        .await
        .expect("put_mutable");
    assert_eq!(first.seq, 1);
    assert_eq!(first.target, keypair.target(b""));
    assert!(first.stored >= 1);
    let second = nodes[2]
        .put_mutable(&keypair, b"second", MutablePut::default())
        .await
        .expect("update");
    assert_eq!(second.seq, 2);
    for node in &nodes[3..8] {
        let got = node
            .get_mutable(&k, b"", None)
            .await
            .expect("get_mutable")
            .expect("found");
        assert_eq!((got.value.as_slice(), got.seq), (&b"second"[..], 2));
        assert_eq!(got.v, b"6:second");
        assert_eq!((got.public_key, got.salt.as_slice()), (k, &b""[..]));
        assert!(dipsea::rpc::signature::verify(
            &k,
            b"",
            2,
            &got.v,
            &got.signature
        ));
    }

    // Salts make separate items under one key.
    let topic = nodes[4]
        .put_mutable(&keypair, b"salted", salted(b"topic", None, None))
        .await
        .expect("salted put");
    assert_eq!(topic.seq, 1);
    assert_eq!(topic.target, keypair.target(b"topic"));
    let got = nodes[9]
        .get_mutable(&k, b"topic", None)
        .await
        .expect("get")
        .expect("found");
    assert_eq!((got.value.as_slice(), got.seq), (&b"salted"[..], 1));
    assert_eq!(
        nodes[9]
            .get_mutable(&k, b"absent", None)
            .await
            .expect("get"),
        None
    );
    assert_eq!(
        nodes[9].get_mutable(&k, b"", Some(3)).await.expect("get"),
        None,
        "nothing at seq 3 or newer"
    );

    // An explicit seq, then a cas that does not match and a seq that is too old:
    // the nodes' 301 and 302 come back as typed errors, and nothing changes.
    let ten = nodes[5]
        .put_mutable(&keypair, b"ten", salted(b"", Some(10), Some(2)))
        .await
        .expect("cas 2 matches");
    assert_eq!(ten.seq, 10);
    let mismatch = nodes[6]
        .put_mutable(&keypair, b"eleven", salted(b"", Some(11), Some(9)))
        .await;
    assert!(
        matches!(mismatch, Err(Error::Op(OpError::CasMismatch))),
        "{mismatch:?}"
    );
    let old = nodes[6]
        .put_mutable(&keypair, b"five", salted(b"", Some(5), None))
        .await;
    assert!(matches!(old, Err(Error::Op(OpError::SeqTooOld))), "{old:?}");
    let got = nodes[7]
        .get_mutable(&k, b"", Some(10))
        .await
        .expect("get")
        .expect("found");
    assert_eq!((got.value.as_slice(), got.seq), (&b"ten"[..], 10));

    // Bad input is refused before any query.
    let long_salt = nodes[1]
        .put_mutable(&keypair, b"x", salted(&[b's'; 65], None, None))
        .await;
    assert!(
        matches!(long_salt, Err(Error::Op(OpError::BadInput(_)))),
        "{long_salt:?}"
    );
    let too_big = nodes[1]
        .put_mutable(&keypair, &[b'x'; 1000], MutablePut::default())
        .await;
    assert!(
        matches!(too_big, Err(Error::Op(OpError::BadInput(_)))),
        "{too_big:?}"
    );

    // The put's target is what unpublish takes (once).
    assert!(nodes[5].unpublish(ten.target));
    assert!(!nodes[5].unpublish(ten.target));
    shutdown(&nodes).await;
}
