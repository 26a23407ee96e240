use super::*;
use crate::keypair::Keypair;

fn addr(ip: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, ip], port))
}

#[test]
fn only_recent_dipsea_nodes_speak_subscribe() {
    assert!(speaks_subscribe(Some(b"DS\x00\x03")));
    assert!(!speaks_subscribe(Some(b"DS\x00\x02")));
    assert!(!speaks_subscribe(Some(b"LT\x02\x01")));
    assert!(!speaks_subscribe(None));
}

#[test]
fn holders_are_bounded_per_node_and_per_ip() {
    let config = SubscribeConfig {
        max_held: 5,
        max_per_ip: 3,
        ..SubscribeConfig::default()
    };
    let mut h = Holders::new();
    let t = Id::sha1(b"t");
    let until = Time::from_millis(10_000);
    for port in 0..3 {
        h.subscribe(t, addr(1, port), Id::ZERO, until, &config)
            .expect("under the limits");
    }
    assert_eq!(
        h.subscribe(t, addr(1, 9), Id::ZERO, until, &config),
        Err(SubscribeRefusal::IpFull)
    );
    // A renewal is not a new subscription.
    assert_eq!(h.subscribe(t, addr(1, 0), Id::ZERO, until, &config), Ok(()));
    h.subscribe(t, addr(2, 0), Id::ZERO, until, &config)
        .expect("room");
    h.subscribe(Id::sha1(b"u"), addr(3, 0), Id::ZERO, until, &config)
        .expect("room");
    assert_eq!(
        h.subscribe(t, addr(4, 0), Id::ZERO, until, &config),
        Err(SubscribeRefusal::NodeFull)
    );
    assert_eq!(h.len(), 5);
    assert!(h.unsubscribe(&t, addr(1, 0)));
    assert!(!h.unsubscribe(&t, addr(1, 0)));
    h.subscribe(t, addr(1, 9), Id::ZERO, until, &config)
        .expect("a freed slot");
    h.expire(until);
    assert!(h.is_empty());
    assert!(h.per_ip.is_empty() && h.by_target.is_empty());
}

#[test]
fn each_version_is_pushed_once_to_live_subscribers() {
    let config = SubscribeConfig::default();
    let mut h = Holders::new();
    let t = Id::sha1(b"t");
    h.subscribe(t, addr(1, 1), Id::ZERO, Time::from_millis(100), &config)
        .expect("room");
    h.subscribe(t, addr(2, 1), Id::ZERO, Time::from_millis(50), &config)
        .expect("room");
    let now = Time::from_millis(60);
    assert_eq!(h.to_notify(&t, 1, now).len(), 1);
    assert!(h.to_notify(&t, 1, now).is_empty());
    assert!(h.to_notify(&t, 0, now).is_empty());
    assert_eq!(h.to_notify(&t, 2, now).len(), 1);
    assert!(h.to_notify(&Id::sha1(b"other"), 5, now).is_empty());
}

#[test]
fn a_pushed_item_is_verified() {
    let key = Keypair::from_seed(&[3; 32]);
    let k = key.public_key();
    let v = b"5:hello";
    let sig = key.sign(b"s", 4, v);
    let q = NotifyQuery {
        tid: b"aa",
        version: None,
        id: Id::ZERO,
        target: key.target(b"s"),
        k: &k,
        salt: b"s",
        seq: 4,
        sig: &sig,
        v,
    };
    let item = verify_notify(&q, &SignatureCache::new()).expect("valid");
    assert_eq!((item.seq, item.target()), (4, key.target(b"s")));
    let wrong_target = NotifyQuery {
        target: key.target(b""),
        ..q
    };
    assert_eq!(
        verify_notify(&wrong_target, &SignatureCache::new()),
        Err(NotifyRefusal::WrongTarget)
    );
    let other_seq = NotifyQuery { seq: 5, ..q };
    assert_eq!(
        verify_notify(&other_seq, &SignatureCache::new()),
        Err(NotifyRefusal::BadSignature)
    );
    assert_eq!(NotifyRefusal::BadSignature.code(), 206);
}
