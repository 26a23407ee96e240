//! Write protection over real UDP: `put` and `announce_peer` without a valid write
//! token for the sender's IP are refused with KRPC error 203 and store nothing,
//! values over 1,000 bytes get 205, an announce for port 0 203, an unknown method
//! without a target 204, and the node counts each refusal in its reason's counter.
//!
//! The clients are plain sockets on distinct loopback addresses (127.4.0.x, all routed
//! to `lo` on Linux). Loopback only, bounded in time.

use std::net::{Ipv4Addr, SocketAddr};

use dipsea::wire::bencode::encode_bytes;
use dipsea::wire::{error_code, PutArgs, QueryMethod};
use dipsea::{Id, Time};
use dipsea_tests::krpc_client::Reply;
use dipsea_tests::lone_node::{within_limit, LoneNode};

fn put_args<'a>(token: &'a [u8], v: &'a [u8]) -> QueryMethod<'a> {
    QueryMethod::Put(PutArgs::immutable(token, v))
}

fn announce_args(info_hash: Id, token: &[u8]) -> QueryMethod<'_> {
    QueryMethod::AnnouncePeer {
        info_hash,
        port: 6881,
        implied_port: false,
        token,
        seed: false,
    }
}

/// A query `q` with arguments `args` (bencoded dictionary entries, without the `id`),
/// as a hostile client would write it by hand: the codec cannot leave out a token.
fn raw_query(tid: &[u8], q: &str, args: &[u8]) -> Vec<u8> {
    let mut out = b"d1:ad2:id20:".to_vec();
    out.extend_from_slice(Id::random().as_bytes());
    out.extend_from_slice(args);
    out.extend_from_slice(format!("e1:q{}:{q}1:t{}:", q.len(), tid.len()).as_bytes());
    out.extend_from_slice(tid);
    out.extend_from_slice(b"1:y1:qe");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_and_announces_without_a_valid_token_are_refused_and_store_nothing() {
    within_limit(token_test()).await;
}

async fn token_test() {
    let node = LoneNode::spawn().await;
    let to = node.addr;
    let mut honest = node.client(Ipv4Addr::new(127, 4, 0, 1)).await;
    let mut spoofer = node.client(Ipv4Addr::new(127, 4, 0, 2)).await;
    let honest_token = honest.token(to).await;
    let forged: Vec<u8> = honest_token.iter().map(|b| b ^ 0x5a).collect();
    let v = encode_bytes(b"spoofed value");
    let target = Id::sha1(&v);
    let info_hash = Id::sha1(b"a torrent");

    // A token is tied to the IP it was handed to; a forged one is worth nothing.
    for token in [&honest_token, &forged] {
        let put = spoofer.ask(to, put_args(token, &v)).await;
        assert_eq!(put.code(), Some(error_code::PROTOCOL), "put: {put:?}");
        let announce = spoofer.ask(to, announce_args(info_hash, token)).await;
        assert_eq!(announce.code(), Some(error_code::PROTOCOL), "{announce:?}");
    }
    // The same refusals from the honest IP with the forged token.
    let put = honest.ask(to, put_args(&forged, &v)).await;
    assert_eq!(put.code(), Some(error_code::PROTOCOL));
    let announce = honest.ask(to, announce_args(info_hash, &forged)).await;
    assert_eq!(announce.code(), Some(error_code::PROTOCOL));
    assert_eq!(node.stats().bad_token, 6);

    // No token at all: the strict decoder rejects the query itself (203 as well),
    // counted as malformed rather than as a bad token.
    let put = raw_query(b"np", "put", &[b"1:v".as_slice(), &v].concat());
    assert_eq!(
        spoofer.ask_raw(to, b"np", &put).await.code(),
        Some(error_code::PROTOCOL)
    );
    let mut args = b"9:info_hash20:".to_vec();
    args.extend_from_slice(info_hash.as_bytes());
    args.extend_from_slice(b"4:porti6881e");
    let announce = raw_query(b"na", "announce_peer", &args);
    assert_eq!(
        spoofer.ask_raw(to, b"na", &announce).await.code(),
        Some(error_code::PROTOCOL)
    );
    let stats = node.stats();
    assert_eq!((stats.bad_token, stats.malformed), (6, 2), "{stats:?}");

    // Nothing was stored: not in the store, not for a get from a valid client.
    let store = node.node.node().store();
    let held = store.stats();
    assert_eq!((held.items, held.info_hashes, held.peers), (0, 0, 0));
    assert_eq!(honest.get(to, target).await, None);
    let mut peers = Vec::new();
    assert_eq!(store.get_peers(&info_hash, 50, Time::ZERO, &mut peers), 0);

    // A value over 1,000 bytes gets 205 even with a valid token; 1,000 bytes is fine.
    let too_big = encode_bytes(&[b'x'; 997]);
    assert_eq!(too_big.len(), 1001);
    let put = honest.put(to, &honest_token, &too_big).await;
    assert_eq!(put.code(), Some(error_code::MESSAGE_TOO_BIG), "{put:?}");
    let stats = node.stats();
    assert_eq!((stats.value_too_big, stats.refused), (1, 0), "{stats:?}");
    assert_eq!(store.stats().items, 0);
    let largest = encode_bytes(&[b'x'; 996]);
    assert_eq!(largest.len(), 1000);
    assert_eq!(honest.put(to, &honest_token, &largest).await.code(), None);

    // The honest client's own token works, from any port of its IP (BEP 5: tokens are
    // per IP), for puts and announces alike.
    let mut same_ip = node.client(Ipv4Addr::new(127, 4, 0, 1)).await;
    assert_eq!(same_ip.put(to, &honest_token, &v).await.code(), None);
    let announce = same_ip
        .ask(to, announce_args(info_hash, &honest_token))
        .await;
    assert!(matches!(announce, Reply::Response { .. }), "{announce:?}");
    assert_eq!(honest.get(to, target).await.as_deref(), Some(&v[..]));
    peers.clear();
    store.get_peers(&info_hash, 50, Time::ZERO, &mut peers);
    assert_eq!(peers, vec![SocketAddr::from(([127, 4, 0, 1], 6881))]);

    // An announce for port 0 (a valid token, an impossible peer) is bad arguments:
    // 203, counted in `refused`; a method nobody knows, without a target, 204.
    let zero = QueryMethod::AnnouncePeer {
        info_hash,
        port: 0,
        implied_port: false,
        token: &honest_token,
        seed: false,
    };
    assert_eq!(
        honest.ask(to, zero).await.code(),
        Some(error_code::PROTOCOL)
    );
    let unknown = raw_query(b"um", "frobnicate", b"");
    assert_eq!(
        honest.ask_raw(to, b"um", &unknown).await.code(),
        Some(error_code::METHOD_UNKNOWN)
    );
    let stats = node.stats();
    let counted = (
        stats.bad_token,
        stats.value_too_big,
        stats.refused,
        stats.unknown_method,
        stats.malformed,
    );
    assert_eq!(counted, (6, 1, 1, 1, 2), "{stats:?}");
    node.shutdown().await;
}
