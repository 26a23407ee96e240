//! Tests of the KRPC codec: real messages from deployed clients, BEP 5 examples,
//! malformed input, round-trip and never-panic properties, and the fuzz seed corpus.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use proptest::collection::vec;
use proptest::prelude::*;

use super::bencode::{self, MAX_MESSAGE_LEN};
use super::*;
use crate::id::{Id, NodeInfo};

// ---------------------------------------------------------------------------------
// Helpers: a tiny bencode tree that keeps key order as written (to rebuild samples
// exactly, unsorted keys included), and a parser for the wire-samples notation.

#[derive(Debug, Clone, PartialEq)]
enum B {
    S(Vec<u8>),
    I(i64),
    L(Vec<B>),
    D(Vec<(Vec<u8>, B)>),
}

impl B {
    fn enc(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            B::S(s) => bencode::write_bytes(out, s),
            B::I(n) => bencode::write_int(out, *n),
            B::L(items) => {
                out.push(b'l');
                items.iter().for_each(|b| b.write(out));
                out.push(b'e');
            }
            B::D(entries) => {
                out.push(b'd');
                for (k, v) in entries {
                    bencode::write_bytes(out, k);
                    v.write(out);
                }
                out.push(b'e');
            }
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

fn h(s: &str) -> B {
    B::S(hex(s))
}

fn s(text: &str) -> B {
    B::S(text.as_bytes().to_vec())
}

fn d(entries: Vec<(&str, B)>) -> B {
    B::D(
        entries
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect(),
    )
}

fn id(s: &str) -> Id {
    s.strip_prefix("0x").unwrap_or(s).parse().expect("id hex")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// Parses the notation of `tests/data/wire-samples/*.txt`: `{"k": v, ...}`, `[...]`,
/// `"text"`, `0xhex`, integers; keys stay in the order written.
fn parse_sample(text: &str) -> B {
    fn skip(b: &[u8], pos: &mut usize) {
        while *pos < b.len() && (b[*pos] == b' ' || b[*pos] == b',') {
            *pos += 1;
        }
    }
    fn value(b: &[u8], pos: &mut usize) -> B {
        skip(b, pos);
        match b[*pos] {
            b'{' => {
                *pos += 1;
                let mut entries = Vec::new();
                loop {
                    skip(b, pos);
                    if b[*pos] == b'}' {
                        *pos += 1;
                        return B::D(entries);
                    }
                    let B::S(key) = value(b, pos) else {
                        panic!("key is not a string")
                    };
                    skip(b, pos);
                    assert_eq!(b[*pos], b':');
                    *pos += 1;
                    entries.push((key, value(b, pos)));
                }
            }
            b'[' => {
                *pos += 1;
                let mut items = Vec::new();
                loop {
                    skip(b, pos);
                    if b[*pos] == b']' {
                        *pos += 1;
                        return B::L(items);
                    }
                    items.push(value(b, pos));
                }
            }
            b'"' => {
                let start = *pos + 1;
                let end = start + b[start..].iter().position(|&c| c == b'"').expect("\"");
                *pos = end + 1;
                B::S(b[start..end].to_vec())
            }
            b'0' if b.get(*pos + 1) == Some(&b'x') => {
                let start = *pos;
                *pos += 2;
                while *pos < b.len() && b[*pos].is_ascii_hexdigit() {
                    *pos += 1;
                }
                h(std::str::from_utf8(&b[start..*pos]).expect("ascii"))
            }
            _ => {
                let start = *pos;
                *pos += 1;
                while *pos < b.len() && b[*pos].is_ascii_digit() {
                    *pos += 1;
                }
                B::I(
                    std::str::from_utf8(&b[start..*pos])
                        .expect("ascii")
                        .parse()
                        .expect("integer"),
                )
            }
        }
    }
    let mut pos = 0;
    value(text.as_bytes(), &mut pos)
}

/// One message of the wire samples.
struct Sample {
    file: String,
    section: String,
    query: bool,
    bytes: Vec<u8>,
}

/// The wire samples vendored into the repository (`crates/dipsea/tests/data/wire-samples`,
/// copied from the shared probe records; see its README).
fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/wire-samples")
}

/// Every message of the wire samples. Panics when the samples are missing: the tests
/// that read them must fail, not pass without checking anything.
fn load_samples() -> Vec<Sample> {
    let dir = samples_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("wire samples missing at {}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    assert!(
        !files.is_empty(),
        "no wire sample files in {}",
        dir.display()
    );
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).expect("read sample");
        let mut section = String::new();
        for line in text.lines() {
            let line = line.trim_start();
            if let Some(name) = line.strip_prefix("### ") {
                section = name.trim().to_owned();
            }
            let (query, rest) = match (line.strip_prefix(">> "), line.strip_prefix("<< ")) {
                (Some(rest), _) => (true, rest),
                (_, Some(rest)) => (false, rest),
                _ => continue,
            };
            if rest.starts_with('{') {
                out.push(Sample {
                    file: file.clone(),
                    section: section.clone(),
                    query,
                    bytes: parse_sample(rest).enc(),
                });
            }
        }
    }
    out
}

/// Checks that re-encoding `msg` decodes to `msg` again.
fn assert_round_trips(msg: &Message<'_>) {
    let mut out = Vec::new();
    msg.encode(&mut out);
    // Re-encoding can add a few bytes (a `port` left implicit, an empty error
    // message); past the limit the decoder rightly refuses it.
    if out.len() > MAX_MESSAGE_LEN {
        return;
    }
    assert_eq!(bencode::validate(&out), Ok(()));
    assert_eq!(decode(&out).as_ref(), Ok(msg), "re-encoded {out:?}");
}

fn query_of(msg: Message<'_>) -> Query<'_> {
    match msg.kind {
        MessageKind::Query(q) => q,
        other => panic!("not a query: {other:?}"),
    }
}

fn response_of(msg: Message<'_>) -> Response<'_> {
    match msg.kind {
        MessageKind::Response(r) => r,
        other => panic!("not a response: {other:?}"),
    }
}

fn error_of(msg: Message<'_>) -> KrpcError<'_> {
    match msg.kind {
        MessageKind::Error(e) => e,
        other => panic!("not an error: {other:?}"),
    }
}

const LT_ID: &str = "699eb391747ec5e17b3f52cc62ef83797a305647";
const PROBE_ID: &str = "7f011a758257b05be317f8d483ce4bc812152bd1";
const LT_NODE: &str = "7f011a758257b05be317f8d483ce4bc812152bd17f000001c80e";

// ---------------------------------------------------------------------------------
// Real messages, rebuilt byte for byte from the wire samples (tests/data/wire-samples).

#[test]
fn libtorrent_get_peers_reply_with_values() {
    let raw = d(vec![
        ("ip", h("7f000001c80e")),
        (
            "r",
            d(vec![
                ("id", h(LT_ID)),
                ("nodes", h(LT_NODE)),
                ("p", B::I(51214)),
                ("token", h("c3535131")),
                ("values", B::L(vec![h("7f0000011ae1"), h("7f000001c80e")])),
            ]),
        ),
        ("t", h("000d")),
        ("v", h("4c540211")),
        ("y", s("r")),
    ])
    .enc();
    let msg = decode(&raw).expect("decode");
    assert_eq!(msg.tid, [0x00, 0x0d]);
    assert_eq!(msg.version, Some(&b"LT\x02\x11"[..]));
    assert_eq!(msg.ip, Some(addr("127.0.0.1:51214")));
    assert!(!msg.read_only);
    let r = response_of(msg);
    assert_eq!(r.id, id(LT_ID));
    assert_eq!(r.token, Some(&[0xc3, 0x53, 0x51, 0x31][..]));
    let nodes: Vec<_> = r.nodes.expect("nodes").iter().collect();
    assert_eq!(
        nodes,
        [NodeInfo::new(id(PROBE_ID), addr("127.0.0.1:51214"))]
    );
    let values: Vec<_> = r.values.expect("values").iter().collect();
    assert_eq!(values, [addr("127.0.0.1:6881"), addr("127.0.0.1:51214")]);
    assert_eq!(r.nodes6, None);
    assert_eq!((r.v, r.k, r.seq, r.sig), (None, None, None, None));
    assert_round_trips(&msg);
}

#[test]
fn bittorrent_dht_get_peers_reply_without_nodes() {
    let raw = d(vec![
        (
            "r",
            d(vec![
                ("id", h("705451a62edf9e1262bd21ab665bd62616710a26")),
                ("token", h("00374b9339d3b2d52e2d1b2704e941bb844b39f3")),
                ("values", B::L(vec![h("7f0000011ae1"), h("7f000001966e")])),
            ]),
        ),
        ("t", h("000d")),
        ("y", s("r")),
    ])
    .enc();
    let r = response_of(decode(&raw).expect("decode"));
    assert_eq!(r.nodes, None);
    assert_eq!(r.token.map(<[u8]>::len), Some(20));
    assert_eq!(r.values.map(|v| v.len()), Some(2));
}

#[test]
fn libtorrent_mutable_get_reply() {
    let k = "01b562d4adc157ccb9c4b2eaf4e5734eb99e68483d276c14be798b47a47756dc";
    let sig = "5dfeb392c36be24588db3b7096f6dca0922648501578378526f6ea4457c525b8\
               d4ef7276241e9f01c9e878399d830fa7eb082691533fff4ae092fa36de61e208";
    let raw = d(vec![
        ("ip", h("7f000001c80e")),
        (
            "r",
            d(vec![
                ("id", h(LT_ID)),
                ("k", h(k)),
                ("nodes", h(LT_NODE)),
                ("p", B::I(51214)),
                ("seq", B::I(1)),
                ("sig", h(sig)),
                ("token", h("c4323b65")),
                ("v", s("mutable v1")),
            ]),
        ),
        ("t", h("0029")),
        ("v", h("4c540211")),
        ("y", s("r")),
    ])
    .enc();
    let msg = decode(&raw).expect("decode");
    let r = response_of(msg);
    assert_eq!(r.k.map(|k| k.to_vec()), Some(hex(k)));
    assert_eq!(r.sig.map(|s| s.to_vec()), Some(hex(sig)));
    assert_eq!(r.seq, Some(1));
    // `v` is the raw bencoding: what the signature covers.
    assert_eq!(r.v, Some(&b"10:mutable v1"[..]));
    assert_round_trips(&msg);
}

#[test]
fn immutable_put_and_get_of_a_dict_value_keep_v_raw() {
    let value = d(vec![
        ("list", B::L(vec![B::I(1), B::I(2), s("x")])),
        ("n", B::I(42)),
    ]);
    let put = d(vec![
        ("t", h("0019")),
        ("y", s("q")),
        ("q", s("put")),
        (
            "a",
            d(vec![
                ("id", h(PROBE_ID)),
                ("v", value.clone()),
                ("token", h("b8a799d8")),
            ]),
        ),
    ])
    .enc();
    let msg = decode(&put).expect("decode");
    let QueryMethod::Put(args) = query_of(msg).method else {
        panic!("not a put")
    };
    assert_eq!(args.v, &b"d4:listli1ei2e1:xe1:ni42ee"[..]);
    assert_eq!(
        Id::sha1(args.v),
        id("2e660274cddfa76cd4ecb695bcb24346e6869091")
    );
    assert_eq!(args.token, [0xb8, 0xa7, 0x99, 0xd8]);
    assert_eq!(
        (args.k, args.sig, args.seq, args.salt),
        (None, None, None, None)
    );
    assert_round_trips(&msg);

    let reply = d(vec![
        (
            "r",
            d(vec![
                ("id", h("705451a62edf9e1262bd21ab665bd62616710a26")),
                ("token", h("00374b9339d3b2d52e2d1b2704e941bb844b39f3")),
                ("v", value),
            ]),
        ),
        ("t", h("001a")),
        ("y", s("r")),
    ])
    .enc();
    let r = response_of(decode(&reply).expect("decode"));
    assert_eq!(r.v, Some(&b"d4:listli1ei2e1:xe1:ni42ee"[..]));
}

#[test]
fn libtorrent_error_with_partial_r_beside_e() {
    let raw = d(vec![
        ("e", B::L(vec![B::I(203), s("invalid token")])),
        ("ip", h("7f000001c80e")),
        ("r", d(vec![("id", h(LT_ID)), ("p", B::I(51214))])),
        ("t", h("000e")),
        ("v", h("4c540211")),
        ("y", s("e")),
    ])
    .enc();
    let msg = decode(&raw).expect("decode");
    assert_eq!(
        error_of(msg),
        KrpcError {
            code: error_code::PROTOCOL,
            message: b"invalid token"
        }
    );
    assert_eq!(msg.ip, Some(addr("127.0.0.1:51214")));
    assert_round_trips(&msg);
}

#[test]
fn mainline_error_with_ro_zero() {
    let raw = d(vec![
        ("e", B::L(vec![B::I(203), s("Bad token")])),
        ("ip", h("7f000001b8d2")),
        ("ro", B::I(0)),
        ("t", h("0000000e")),
        ("v", h("52530005")),
        ("y", s("e")),
    ])
    .enc();
    let msg = decode(&raw).expect("decode");
    assert!(!msg.read_only);
    assert_eq!(error_of(msg).message, b"Bad token");
    assert_eq!(msg.tid.len(), 4);
}

#[test]
fn probe_queries_with_unsorted_keys() {
    // The probe sent t, y, q, a in that order; deployed clients accept it, so do we.
    let raw = d(vec![
        ("t", h("0005")),
        ("y", s("q")),
        ("q", s("find_node")),
        (
            "a",
            d(vec![
                ("id", h(PROBE_ID)),
                ("target", h("2be34a028e8cae254f0a1bf3a56d30ce8476456d")),
                ("want", B::L(vec![s("n4"), s("n6")])),
            ]),
        ),
    ])
    .enc();
    let msg = decode(&raw).expect("decode");
    let q = query_of(msg);
    assert_eq!(q.id, id(PROBE_ID));
    assert_eq!(q.want, Want { n4: true, n6: true });
    assert_eq!(
        q.method,
        QueryMethod::FindNode {
            target: id("2be34a028e8cae254f0a1bf3a56d30ce8476456d")
        }
    );
    assert_round_trips(&msg);

    let ro = d(vec![
        ("t", h("003b")),
        ("y", s("q")),
        ("q", s("find_node")),
        (
            "a",
            d(vec![
                ("id", h(PROBE_ID)),
                ("target", h("6d91f9645a4e87d37ef427a3eba7afd115352b74")),
            ]),
        ),
        ("ro", B::I(1)),
    ])
    .enc();
    assert!(decode(&ro).expect("decode").read_only);
}

#[test]
fn the_network_key_sorts_last_and_round_trips() {
    let msg = Message {
        network: Some(b"\x01\x02\x03\x04\x05\x06\x07\x08"),
        ..Message::query(b"aa", Id::from_bytes([7; 20]), QueryMethod::Ping)
    };
    let mut out = Vec::new();
    msg.encode(&mut out);
    assert!(out.ends_with(b"1:y1:q2:zn8:\x01\x02\x03\x04\x05\x06\x07\x08e"));
    assert_eq!(decode(&out).expect("decode"), msg);
    // Without a network the bytes are Mainline's, unchanged.
    let plain = Message::query(b"aa", Id::from_bytes([7; 20]), QueryMethod::Ping);
    out.clear();
    plain.encode(&mut out);
    assert!(out.ends_with(b"1:y1:qe"));
    assert_eq!(decode(&out).expect("decode").network, None);
    // A `zn` that is not a byte string is malformed.
    let bad = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:q2:zni1ee";
    assert!(decode(bad).is_err());
}

#[test]
fn libtorrent_mutable_put_with_salt_and_cas() {
    let raw = d(vec![
        ("t", h("0031")),
        ("y", s("q")),
        ("q", s("put")),
        (
            "a",
            d(vec![
                ("id", h(PROBE_ID)),
                ("v", s("mutable v2 cas")),
                (
                    "k",
                    h("01b562d4adc157ccb9c4b2eaf4e5734eb99e68483d276c14be798b47a47756dc"),
                ),
                ("seq", B::I(2)),
                ("sig", B::S(vec![7; 64])),
                ("salt", s("probe-salt")),
                ("token", h("c4323b65")),
                ("cas", B::I(7)),
            ]),
        ),
    ])
    .enc();
    let msg = decode(&raw).expect("decode");
    let QueryMethod::Put(p) = query_of(msg).method else {
        panic!("not a put")
    };
    assert_eq!(p.v, b"14:mutable v2 cas");
    assert_eq!(p.salt, Some(&b"probe-salt"[..]));
    assert_eq!((p.seq, p.cas), (Some(2), Some(7)));
    assert_eq!(p.sig, Some(&[7; 64]));
    assert_round_trips(&msg);
}

#[test]
fn announce_with_implied_port_and_unknown_methods() {
    let raw = d(vec![
        ("t", h("000c")),
        ("y", s("q")),
        ("q", s("announce_peer")),
        (
            "a",
            d(vec![
                ("id", h(PROBE_ID)),
                ("info_hash", h("21c8d891628e667d520c7f817d19c2f92998a807")),
                ("port", B::I(1)),
                ("implied_port", B::I(1)),
                ("token", h("c3535131")),
            ]),
        ),
    ])
    .enc();
    let msg = decode(&raw).expect("decode");
    assert_eq!(
        query_of(msg).method,
        QueryMethod::AnnouncePeer {
            info_hash: id("21c8d891628e667d520c7f817d19c2f92998a807"),
            port: 1,
            implied_port: true,
            token: &[0xc3, 0x53, 0x51, 0x31],
            seed: false,
        }
    );
    assert_round_trips(&msg);

    let unknown = |target: Option<B>| {
        let mut a = vec![("id", h(PROBE_ID))];
        a.extend(target.map(|t| ("target", t)));
        d(vec![
            ("t", h("0006")),
            ("y", s("q")),
            ("q", s("frobnicate")),
            ("a", d(a)),
        ])
        .enc()
    };
    let raw = unknown(Some(h("167937b24bfbf1a2ee91298ca551ab95db5c0317")));
    let msg = decode(&raw).expect("decode");
    assert_eq!(
        query_of(msg).method,
        QueryMethod::Unknown {
            method: b"frobnicate",
            target: Some(id("167937b24bfbf1a2ee91298ca551ab95db5c0317")),
        }
    );
    assert_round_trips(&msg);
    let raw = unknown(None);
    let q = query_of(decode(&raw).expect("decode"));
    assert_eq!(q.method.name(), b"frobnicate");
    // A malformed target of an unknown method is dropped, not fatal.
    let raw = unknown(Some(s("short")));
    let q = query_of(decode(&raw).expect("decode"));
    assert!(matches!(
        q.method,
        QueryMethod::Unknown { target: None, .. }
    ));
}

#[test]
fn sample_infohashes_reply_with_extra_keys() {
    let raw = d(vec![
        ("ip", h("7f000001c80e")),
        (
            "r",
            d(vec![
                ("id", h(LT_ID)),
                ("interval", B::I(21600)),
                ("nodes", h(LT_NODE)),
                ("num", B::I(0)),
                ("p", B::I(51214)),
                ("samples", s("")),
            ]),
        ),
        ("t", h("0008")),
        ("v", h("4c540211")),
        ("y", s("r")),
    ])
    .enc();
    let r = response_of(decode(&raw).expect("decode"));
    assert_eq!(r.nodes.map(|n| n.len()), Some(1));
    assert_eq!((r.interval, r.num), (Some(21600), Some(0)));
    assert_eq!(r.samples.map(|s| s.len()), Some(0));
}

#[test]
fn bep51_sample_infohashes_reply_with_samples() {
    let (a, b) = (Id::sha1(b"torrent a"), Id::sha1(b"torrent b"));
    let mut samples = Vec::new();
    write_samples(&[a, b], &mut samples);
    let raw = reply_with(vec![
        ("id", B::S(vec![1; 20])),
        ("interval", B::I(300)),
        ("nodes", h(LT_NODE)),
        ("num", B::I(42)),
        ("samples", B::S(samples.clone())),
    ]);
    let msg = decode(&raw).expect("decode");
    assert_round_trips(&msg);
    let r = response_of(msg);
    assert_eq!((r.interval, r.num), (Some(300), Some(42)));
    let got = r.samples.expect("samples");
    assert_eq!((got.len(), got.is_empty()), (2, false));
    assert_eq!(got.iter().collect::<Vec<_>>(), [a, b]);
    assert_eq!(got.as_bytes(), samples.as_slice());
    // The encoder writes what it decoded, byte for byte.
    let mut out = Vec::new();
    msg.encode(&mut out);
    assert_eq!(out, raw);
    // Samples are whole ids; interval and num are integers.
    samples.pop();
    assert_eq!(
        decode(&reply_with(vec![
            ("id", B::S(vec![1; 20])),
            ("samples", B::S(samples))
        ])),
        Err(DecodeError::BadNodesLength {
            key: "samples",
            len: 39,
            entry: 20
        })
    );
    assert!(matches!(
        decode(&reply_with(vec![
            ("id", B::S(vec![1; 20])),
            ("interval", s("soon"))
        ])),
        Err(DecodeError::WrongType {
            key: "interval",
            ..
        })
    ));
}

#[test]
fn bep33_scrape_reply_with_bloom_filters() {
    let mut seeds = BloomFilter::new();
    let mut peers = BloomFilter::new();
    for i in 0..20u8 {
        seeds.insert_ip(IpAddr::V4(Ipv4Addr::new(10, 1, 0, i)));
    }
    for i in 0..200u8 {
        peers.insert_ip(IpAddr::V4(Ipv4Addr::new(10, 2, 0, i)));
    }
    // Keys sort upper case first: BFpe, BFsd, id, ...
    let raw = reply_with(vec![
        ("BFpe", B::S(peers.as_bytes().to_vec())),
        ("BFsd", B::S(seeds.as_bytes().to_vec())),
        ("id", B::S(vec![1; 20])),
        ("nodes", h(LT_NODE)),
        ("token", s("tokn")),
    ]);
    let msg = decode(&raw).expect("decode");
    let mut out = Vec::new();
    msg.encode(&mut out);
    assert_eq!(out, raw);
    let r = response_of(msg);
    let got_seeds = BloomFilter::from_bytes(*r.bf_seeds.expect("BFsd"));
    let got_peers = BloomFilter::from_bytes(*r.bf_peers.expect("BFpe"));
    assert_eq!((&got_seeds, &got_peers), (&seeds, &peers));
    assert!((19.0..21.5).contains(&got_seeds.estimate()));
    assert!((185.0..215.0).contains(&got_peers.estimate()));
    assert_eq!(
        decode(&reply_with(vec![
            ("BFsd", B::S(vec![0; 255])),
            ("id", B::S(vec![1; 20]))
        ])),
        Err(DecodeError::BadSize {
            key: "BFsd",
            expected: BLOOM_LEN,
            len: 255
        })
    );
}

#[test]
fn malformed_probe_queries_still_yield_their_tid() {
    let missing_id = d(vec![
        ("t", s("aa")),
        ("y", s("q")),
        ("q", s("ping")),
        ("a", d(vec![])),
    ])
    .enc();
    assert_eq!(decode(&missing_id), Err(DecodeError::MissingKey("id")));
    assert_eq!(query_tid(&missing_id), Some(&b"aa"[..]));

    let no_args = d(vec![("t", s("aa")), ("y", s("q")), ("q", s("ping"))]).enc();
    assert_eq!(decode(&no_args), Err(DecodeError::MissingKey("a")));
    assert_eq!(query_tid(&no_args), Some(&b"aa"[..]));

    // BEP 44: k and sig without seq.
    let no_seq = d(vec![
        ("t", h("003a")),
        ("y", s("q")),
        ("q", s("put")),
        (
            "a",
            d(vec![
                ("id", h(PROBE_ID)),
                ("v", s("noseq")),
                ("k", B::S(vec![1; 32])),
                ("sig", B::S(vec![2; 64])),
                ("token", h("5df270fe")),
            ]),
        ),
    ])
    .enc();
    assert_eq!(
        decode(&no_seq),
        Err(DecodeError::IncompleteMutablePut { missing: "seq" })
    );
    assert_eq!(query_tid(&no_seq), Some(&[0x00, 0x3a][..]));

    // Not queries, or not well-formed: no tid.
    let reply = d(vec![("t", s("aa")), ("y", s("r"))]).enc();
    assert_eq!(query_tid(&reply), None);
    assert_eq!(query_tid(b"d1:t2:aa1:y1:qe trailing"), None);
    assert_eq!(query_tid(b"d1:ti5e1:y1:qe"), None);
    assert_eq!(query_tid(b"d1:t2:aa1:y1:q"), None);
}

/// Every message of the wire samples (`tests/data/wire-samples`) decodes, except the two queries the probe
/// made malformed on purpose, and survives a round trip.
#[test]
fn every_wire_sample_decodes() {
    let samples = load_samples();
    assert!(samples.len() > 150, "only {} samples", samples.len());
    for sample in &samples {
        let what = format!("{} {} {}", sample.file, sample.section, sample.query);
        // Malformed on purpose by the probe: no `id`, no `a`, a mutable put without seq.
        let malformed = sample.query
            && ["ping_missing_id", "ping_no_args", "mutable_missing_seq"]
                .contains(&sample.section.as_str());
        match decode(&sample.bytes) {
            Ok(msg) => {
                assert!(!malformed, "{what}: accepted");
                let is_query = matches!(msg.kind, MessageKind::Query(_));
                assert_eq!(is_query, sample.query, "{what}");
                assert_round_trips(&msg);
            }
            Err(e) if malformed => {
                assert!(
                    matches!(
                        e,
                        DecodeError::MissingKey(_) | DecodeError::IncompleteMutablePut { .. }
                    ),
                    "{what}: {e}"
                );
                assert!(query_tid(&sample.bytes).is_some(), "{what}");
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------
// BEP 5's own examples: decode and re-encode byte for byte.

#[test]
fn bep5_examples_are_reencoded_exactly() {
    let examples: [&[u8]; 8] = [
        b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
        b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
        b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e\
          1:q9:find_node1:t2:aa1:y1:qe",
        b"d1:rd2:id20:0123456789abcdefghij5:nodes26:mnopqrstuvwxyz123456axje.ue\
          1:t2:aa1:y1:re",
        b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e\
          1:q9:get_peers1:t2:aa1:y1:qe",
        b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee\
          1:t2:aa1:y1:re",
        b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz123456\
          4:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
        b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
    ];
    let mut out = Vec::new();
    for example in examples {
        let msg =
            decode(example).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(example)));
        out.clear();
        msg.encode(&mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(example)
        );
    }
}

#[test]
fn encoder_writes_sorted_keys_and_exact_bytes() {
    let values = [addr("1.2.3.4:80"), addr("[::1]:443")];
    let mut v6 = Vec::new();
    write_compact_node(
        &NodeInfo::new(Id::from_bytes([9; 20]), addr("[2001:db8::7]:6881")),
        &mut v6,
    );
    let msg = Message {
        tid: b"ab",
        version: Some(b"DS01"),
        ip: Some(addr("10.1.2.3:4567")),
        read_only: true,
        network: None,
        kind: MessageKind::Response(Response {
            nodes6: Some(CompactNodes::v6(&v6).expect("v6")),
            values: Some(CompactPeers::from_addrs(&values)),
            token: Some(b"tok"),
            seq: Some(-3),
            ..Response::new(Id::from_bytes([b'i'; 20]))
        }),
    };
    let mut out = b"junk".to_vec();
    msg.encode(&mut out);
    let mut expected =
        b"junkd2:ip6:\x0a\x01\x02\x03\x11\xd71:rd2:id20:iiiiiiiiiiiiiiiiiiii6:nodes638:".to_vec();
    expected.extend_from_slice(&v6);
    expected.extend_from_slice(
        b"3:seqi-3e5:token3:tok6:valuesl6:\x01\x02\x03\x04\x00\x5018:\
          \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\xbbee\
          2:roi1e1:t2:ab1:v4:DS011:y1:re",
    );
    assert_eq!(out, expected);
    assert_eq!(decode(&out[4..]), Ok(msg));
}

// ---------------------------------------------------------------------------------
// Malformed messages: each rule, one case.

fn query_with(args: Vec<(&str, B)>, method: &str) -> Vec<u8> {
    d(vec![
        ("a", d(args)),
        ("q", s(method)),
        ("t", s("aa")),
        ("y", s("q")),
    ])
    .enc()
}

fn reply_with(r: Vec<(&str, B)>) -> Vec<u8> {
    d(vec![("r", d(r)), ("t", s("aa")), ("y", s("r"))]).enc()
}

#[test]
fn sizes_are_checked() {
    let id20 = || B::S(vec![1; 20]);
    assert_eq!(
        decode(&query_with(vec![("id", B::S(vec![1; 19]))], "ping")),
        Err(DecodeError::BadIdLength { key: "id", len: 19 })
    );
    assert_eq!(
        decode(&query_with(
            vec![("id", id20()), ("target", B::S(vec![1; 21]))],
            "find_node"
        )),
        Err(DecodeError::BadIdLength {
            key: "target",
            len: 21
        })
    );
    assert_eq!(
        decode(&reply_with(vec![
            ("id", id20()),
            ("nodes", B::S(vec![0; 27]))
        ])),
        Err(DecodeError::BadNodesLength {
            key: "nodes",
            len: 27,
            entry: 26
        })
    );
    assert_eq!(
        decode(&reply_with(vec![
            ("id", id20()),
            ("nodes6", B::S(vec![0; 26]))
        ])),
        Err(DecodeError::BadNodesLength {
            key: "nodes6",
            len: 26,
            entry: 38
        })
    );
    assert_eq!(
        decode(&reply_with(vec![
            ("id", id20()),
            ("values", B::L(vec![B::S(vec![0; 7])]))
        ])),
        Err(DecodeError::BadAddressLength {
            key: "values",
            len: 7
        })
    );
    assert_eq!(
        decode(&reply_with(vec![("id", id20()), ("token", s(""))])),
        Err(DecodeError::BadTokenLength(0))
    );
    assert_eq!(
        decode(&reply_with(vec![
            ("id", id20()),
            ("token", B::S(vec![0; 65]))
        ])),
        Err(DecodeError::BadTokenLength(65))
    );
    assert_eq!(
        decode(&reply_with(vec![("id", id20()), ("k", B::S(vec![0; 31]))])),
        Err(DecodeError::BadSize {
            key: "k",
            expected: 32,
            len: 31
        })
    );
    assert_eq!(
        decode(&reply_with(vec![
            ("id", id20()),
            ("sig", B::S(vec![0; 65]))
        ])),
        Err(DecodeError::BadSize {
            key: "sig",
            expected: 64,
            len: 65
        })
    );
    let bad_ip = d(vec![
        ("ip", B::S(vec![1; 5])),
        ("r", d(vec![("id", id20())])),
        ("t", s("aa")),
        ("y", s("r")),
    ])
    .enc();
    assert_eq!(
        decode(&bad_ip),
        Err(DecodeError::BadAddressLength { key: "ip", len: 5 })
    );
    // Salt length is the answerer's business (error 207), not the decoder's.
    let salt = query_with(
        vec![
            ("id", id20()),
            ("k", B::S(vec![1; 32])),
            ("salt", B::S(vec![b's'; 65])),
            ("seq", B::I(1)),
            ("sig", B::S(vec![1; 64])),
            ("token", s("tok")),
            ("v", s("x")),
        ],
        "put",
    );
    assert!(decode(&salt).is_ok());
}

#[test]
fn announce_and_put_rules() {
    let id20 = || B::S(vec![1; 20]);
    let announce = |extra: Vec<(&'static str, B)>| {
        let mut a = vec![("id", id20()), ("info_hash", id20()), ("token", s("tok"))];
        a.extend(extra);
        query_with(a, "announce_peer")
    };
    assert_eq!(
        decode(&announce(vec![])),
        Err(DecodeError::MissingKey("port"))
    );
    assert_eq!(
        decode(&announce(vec![("port", B::I(65536))])),
        Err(DecodeError::BadPort(65536))
    );
    assert_eq!(
        decode(&announce(vec![("port", B::I(-1))])),
        Err(DecodeError::BadPort(-1))
    );
    assert_eq!(
        decode(&announce(vec![("port", s("80"))])),
        Err(DecodeError::WrongType {
            key: "port",
            expected: "an integer"
        })
    );
    // With implied_port, a missing port is tolerated.
    let raw = announce(vec![("implied_port", B::I(1))]);
    let msg = decode(&raw).expect("implied");
    assert!(matches!(
        query_of(msg).method,
        QueryMethod::AnnouncePeer {
            port: 0,
            implied_port: true,
            ..
        }
    ));
    let raw = announce(vec![("implied_port", B::I(0)), ("port", B::I(80))]);
    let msg = decode(&raw).expect("explicit");
    assert!(matches!(
        query_of(msg).method,
        QueryMethod::AnnouncePeer {
            port: 80,
            implied_port: false,
            ..
        }
    ));

    let put = |extra: Vec<(&'static str, B)>| {
        let mut a = vec![("id", id20()), ("token", s("tok"))];
        a.extend(extra);
        query_with(a, "put")
    };
    assert_eq!(decode(&put(vec![])), Err(DecodeError::MissingKey("v")));
    assert_eq!(
        decode(&put(vec![
            ("k", B::S(vec![1; 32])),
            ("seq", B::I(1)),
            ("v", s("x"))
        ])),
        Err(DecodeError::IncompleteMutablePut { missing: "sig" })
    );
    assert_eq!(
        decode(&put(vec![
            ("seq", B::I(1)),
            ("sig", B::S(vec![1; 64])),
            ("v", s("x"))
        ])),
        Err(DecodeError::IncompleteMutablePut { missing: "k" })
    );
    // A non-standard target in an immutable put is decoded.
    let raw = put(vec![("target", id20()), ("v", B::L(vec![]))]);
    let msg = decode(&raw).expect("put");
    let QueryMethod::Put(p) = query_of(msg).method else {
        panic!("not a put")
    };
    assert_eq!((p.target, p.v), (Some(Id::from_bytes([1; 20])), &b"le"[..]));
}

#[test]
fn envelope_rules() {
    let id20 = || B::S(vec![1; 20]);
    assert_eq!(
        decode(b"le"),
        Err(DecodeError::WrongType {
            key: "message",
            expected: "a dict"
        })
    );
    assert_eq!(
        decode(b""),
        Err(DecodeError::WrongType {
            key: "message",
            expected: "a dict"
        })
    );
    assert_eq!(
        decode(&d(vec![("r", d(vec![("id", id20())])), ("t", s("aa"))]).enc()),
        Err(DecodeError::MissingKey("y"))
    );
    assert_eq!(
        decode(&d(vec![("r", d(vec![("id", id20())])), ("y", s("r"))]).enc()),
        Err(DecodeError::MissingKey("t"))
    );
    assert_eq!(
        decode(&d(vec![("t", s("aa")), ("y", s("x"))]).enc()),
        Err(DecodeError::UnknownMessageType)
    );
    assert_eq!(
        decode(&d(vec![("r", s("x")), ("t", s("aa")), ("y", s("r"))]).enc()),
        Err(DecodeError::WrongType {
            key: "r",
            expected: "a dict"
        })
    );
    assert_eq!(
        decode(
            &d(vec![
                ("r", d(vec![("id", id20())])),
                ("t", B::I(1)),
                ("y", s("r"))
            ])
            .enc()
        ),
        Err(DecodeError::WrongType {
            key: "t",
            expected: "a byte string"
        })
    );
    // Trailing bytes and duplicate keys anywhere.
    let mut ok = reply_with(vec![("id", id20())]);
    assert!(decode(&ok).is_ok());
    ok.push(b'x');
    assert!(matches!(
        decode(&ok),
        Err(DecodeError::TrailingBytes { .. })
    ));
    let dup = d(vec![
        ("r", d(vec![("id", id20())])),
        ("t", s("aa")),
        ("t", s("bb")),
        ("y", s("r")),
    ])
    .enc();
    assert!(matches!(
        decode(&dup),
        Err(DecodeError::DuplicateKey { .. })
    ));
    let dup = reply_with(vec![("id", id20()), ("token", s("a")), ("id", id20())]);
    assert!(matches!(
        decode(&dup),
        Err(DecodeError::DuplicateKey { .. })
    ));
    // Non-canonical integers inside an ignored key still reject the message.
    let mut bad = b"d1:rd2:id20:".to_vec();
    bad.extend_from_slice(&[1; 20]);
    bad.extend_from_slice(b"1:xi-0ee1:t2:aa1:y1:re");
    assert!(matches!(decode(&bad), Err(DecodeError::BadInteger { .. })));
    // Tolerated: a transaction id of any length, `a` beside `r`, an empty values list.
    let raw = d(vec![
        ("a", s("junk")),
        ("r", d(vec![("id", id20()), ("values", B::L(vec![]))])),
        ("t", s("")),
        ("y", s("r")),
    ])
    .enc();
    let msg = decode(&raw).expect("tolerated");
    assert_eq!(msg.tid, b"");
    assert!(response_of(msg).values.expect("values").is_empty());
}

#[test]
fn error_list_forms() {
    let err = |items: Vec<B>| d(vec![("e", B::L(items)), ("t", s("aa")), ("y", s("e"))]).enc();
    let raw = err(vec![B::I(201)]);
    let msg = decode(&raw).expect("code only");
    assert_eq!(
        error_of(msg),
        KrpcError {
            code: 201,
            message: b""
        }
    );
    assert_round_trips(&msg);
    let raw = err(vec![B::I(202), s("x"), B::I(9)]);
    let msg = decode(&raw).expect("extra item");
    assert_eq!(
        error_of(msg),
        KrpcError {
            code: 202,
            message: b"x"
        }
    );
    assert!(matches!(
        decode(&err(vec![])),
        Err(DecodeError::WrongType { key: "e", .. })
    ));
    assert!(matches!(
        decode(&err(vec![s("201"), s("x")])),
        Err(DecodeError::WrongType { key: "e", .. })
    ));
    assert_eq!(
        decode(&d(vec![("t", s("aa")), ("y", s("e"))]).enc()),
        Err(DecodeError::MissingKey("e"))
    );
}

#[test]
fn want_ignores_unknown_items() {
    let raw = query_with(
        vec![
            ("id", B::S(vec![1; 20])),
            ("want", B::L(vec![s("n6"), B::I(4), s("n9"), B::L(vec![])])),
        ],
        "ping",
    );
    let msg = decode(&raw).expect("decode");
    assert_eq!(
        query_of(msg).want,
        Want {
            n4: false,
            n6: true
        }
    );
    assert_round_trips(&msg);
}

#[test]
fn rewalks_of_nested_unsorted_dicts_are_bounded() {
    // Each level puts "b" (holding the next level) before "a", so each level re-walks
    // everything nested in it: 31 levels over a 4 KiB payload exceed one message's
    // worth of re-walking, and are refused instead of costing quadratic time.
    let nest = |payload: usize| {
        let mut v = B::S(vec![b'x'; payload]);
        for _ in 0..30 {
            v = d(vec![("b", v), ("a", B::I(0))]);
        }
        reply_with(vec![("id", B::S(vec![1; 20])), ("v", v)])
    };
    assert!(decode(&nest(1000)).is_ok());
    assert!(matches!(
        decode(&nest(4000)),
        Err(DecodeError::UnsortedKeys { .. })
    ));
}

// ---------------------------------------------------------------------------------
// Property tests: round trips of arbitrary messages, no panics on arbitrary input.

/// An owned message to generate, viewed as a borrowed [`Message`].
#[derive(Debug, Clone)]
struct Owned {
    tid: Vec<u8>,
    version: Option<Vec<u8>>,
    ip: Option<SocketAddr>,
    read_only: bool,
    network: Option<Vec<u8>>,
    kind: OwnedKind,
}

#[derive(Debug, Clone)]
enum OwnedKind {
    Query {
        id: Id,
        want: Want,
        method: OwnedMethod,
    },
    Response(OwnedResponse),
    Error {
        code: i64,
        message: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
enum OwnedMethod {
    Ping,
    FindNode(Id),
    GetPeers(Id, bool),
    Announce {
        info_hash: Id,
        port: u16,
        implied_port: bool,
        token: Vec<u8>,
        seed: bool,
    },
    Sample(Id),
    Get {
        target: Id,
        seq: Option<i64>,
    },
    Put {
        token: Vec<u8>,
        v: Vec<u8>,
        mutable: Option<([u8; 32], [u8; 64])>,
        salt: Option<Vec<u8>>,
        seq: Option<i64>,
        cas: Option<i64>,
        target: Option<Id>,
    },
    Unknown {
        method: Vec<u8>,
        target: Option<Id>,
    },
}

#[derive(Debug, Clone)]
struct OwnedResponse {
    id: Id,
    nodes: Option<Vec<u8>>,
    nodes6: Option<Vec<u8>>,
    values: Option<Vec<SocketAddr>>,
    token: Option<Vec<u8>>,
    v: Option<Vec<u8>>,
    k: Option<[u8; 32]>,
    seq: Option<i64>,
    sig: Option<[u8; 64]>,
    extra: OwnedExtra,
}

/// The BEP 33 and BEP 51 fields of a response, and the one-hop member proofs.
#[derive(Debug, Clone)]
struct OwnedExtra {
    bf_seeds: Option<Box<[u8; BLOOM_LEN]>>,
    bf_peers: Option<Box<[u8; BLOOM_LEN]>>,
    interval: Option<i64>,
    num: Option<i64>,
    samples: Option<Vec<u8>>,
    proofs: Option<Vec<u8>>,
    digests: Option<Vec<u8>>,
}

impl Owned {
    fn view(&self) -> Message<'_> {
        let kind = match &self.kind {
            OwnedKind::Query { id, want, method } => MessageKind::Query(Query {
                id: *id,
                want: *want,
                method: match method {
                    OwnedMethod::Ping => QueryMethod::Ping,
                    OwnedMethod::FindNode(target) => QueryMethod::FindNode { target: *target },
                    OwnedMethod::GetPeers(info_hash, scrape) => QueryMethod::GetPeers {
                        info_hash: *info_hash,
                        scrape: *scrape,
                    },
                    OwnedMethod::Announce {
                        info_hash,
                        port,
                        implied_port,
                        token,
                        seed,
                    } => QueryMethod::AnnouncePeer {
                        info_hash: *info_hash,
                        port: *port,
                        implied_port: *implied_port,
                        token,
                        seed: *seed,
                    },
                    OwnedMethod::Sample(target) => {
                        QueryMethod::SampleInfohashes { target: *target }
                    }
                    OwnedMethod::Get { target, seq } => QueryMethod::Get {
                        target: *target,
                        seq: *seq,
                    },
                    OwnedMethod::Put {
                        token,
                        v,
                        mutable,
                        salt,
                        seq,
                        cas,
                        target,
                    } => QueryMethod::Put(PutArgs {
                        token,
                        v,
                        k: mutable.as_ref().map(|(k, _)| k),
                        salt: salt.as_deref(),
                        seq: *seq,
                        cas: *cas,
                        sig: mutable.as_ref().map(|(_, sig)| sig),
                        target: *target,
                    }),
                    OwnedMethod::Unknown { method, target } => QueryMethod::Unknown {
                        method,
                        target: *target,
                    },
                },
            }),
            OwnedKind::Response(r) => MessageKind::Response(Response {
                id: r.id,
                nodes: r.nodes.as_deref().map(|b| CompactNodes::v4(b).expect("v4")),
                nodes6: r
                    .nodes6
                    .as_deref()
                    .map(|b| CompactNodes::v6(b).expect("v6")),
                values: r.values.as_deref().map(CompactPeers::from_addrs),
                token: r.token.as_deref(),
                v: r.v.as_deref(),
                k: r.k.as_ref(),
                seq: r.seq,
                sig: r.sig.as_ref(),
                bf_seeds: r.extra.bf_seeds.as_deref(),
                bf_peers: r.extra.bf_peers.as_deref(),
                interval: r.extra.interval,
                num: r.extra.num,
                samples: r
                    .extra
                    .samples
                    .as_deref()
                    .map(|b| Samples::from_bytes(b).expect("whole ids")),
                proofs: r.extra.proofs.as_deref(),
                digests: r.extra.digests.as_deref(),
            }),
            OwnedKind::Error { code, message } => MessageKind::Error(KrpcError {
                code: *code,
                message,
            }),
        };
        Message {
            tid: &self.tid,
            version: self.version.as_deref(),
            ip: self.ip,
            read_only: self.read_only,
            network: self.network.as_deref(),
            kind,
        }
    }
}

fn arb_id() -> impl Strategy<Value = Id> {
    any::<[u8; 20]>().prop_map(Id::from_bytes)
}

fn arb_v4() -> impl Strategy<Value = SocketAddr> {
    (any::<[u8; 4]>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
}

fn arb_v6() -> impl Strategy<Value = SocketAddr> {
    (any::<[u8; 16]>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port))
}

fn arb_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![arb_v4(), arb_v6()]
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn arb_token() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 1..=MAX_TOKEN_LEN)
}

fn arb_sig() -> impl Strategy<Value = [u8; 64]> {
    vec(any::<u8>(), 64).prop_map(|v| <[u8; 64]>::try_from(v).expect("64 bytes"))
}

fn arb_nodes(family: AddrFamily) -> impl Strategy<Value = Vec<u8>> {
    let addr = match family {
        AddrFamily::V4 => arb_v4().boxed(),
        AddrFamily::V6 => arb_v6().boxed(),
    };
    vec((arb_id(), addr), 0..8).prop_map(|nodes| {
        let nodes: Vec<_> = nodes
            .into_iter()
            .map(|(id, a)| NodeInfo::new(id, a))
            .collect();
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        write_compact_nodes(&nodes, &mut v4, &mut v6);
        if v4.is_empty() {
            v6
        } else {
            v4
        }
    })
}

/// Any bencoded value (BEP 44 `v`), dict keys distinct but in any order.
fn arb_bvalue() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![arb_bytes(16).prop_map(B::S), any::<i64>().prop_map(B::I)];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(B::L),
            (vec((arb_bytes(4), inner), 0..6), any::<bool>()).prop_map(|(mut entries, sort)| {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                entries.dedup_by(|a, b| a.0 == b.0);
                if !sort {
                    entries.reverse();
                }
                B::D(entries)
            }),
        ]
    })
    .prop_map(|b| b.enc())
}

fn arb_method() -> impl Strategy<Value = OwnedMethod> {
    const KNOWN: [&[u8]; 7] = [
        b"sample_infohashes",
        b"ping",
        b"find_node",
        b"get_peers",
        b"announce_peer",
        b"get",
        b"put",
    ];
    prop_oneof![
        Just(OwnedMethod::Ping),
        arb_id().prop_map(OwnedMethod::FindNode),
        (arb_id(), any::<bool>()).prop_map(|(id, scrape)| OwnedMethod::GetPeers(id, scrape)),
        arb_id().prop_map(OwnedMethod::Sample),
        (
            arb_id(),
            any::<u16>(),
            any::<bool>(),
            arb_token(),
            any::<bool>()
        )
            .prop_map(|(info_hash, port, implied_port, token, seed)| {
                OwnedMethod::Announce {
                    info_hash,
                    port,
                    implied_port,
                    token,
                    seed,
                }
            }),
        (arb_id(), any::<Option<i64>>()).prop_map(|(target, seq)| OwnedMethod::Get { target, seq }),
        (
            arb_token(),
            arb_bvalue(),
            proptest::option::of((any::<[u8; 32]>(), arb_sig())),
            proptest::option::of(arb_bytes(80)),
            any::<(Option<i64>, i64, Option<i64>)>(),
            proptest::option::of(arb_id()),
        )
            .prop_map(
                |(token, v, mutable, salt, (seq, mutable_seq, cas), target)| OwnedMethod::Put {
                    token,
                    v,
                    // BEP 44: a mutable put always carries seq.
                    seq: if mutable.is_some() {
                        Some(mutable_seq)
                    } else {
                        seq
                    },
                    mutable,
                    salt,
                    cas,
                    target,
                }
            ),
        (
            arb_bytes(14).prop_filter("a known method", |m| !KNOWN.contains(&m.as_slice())),
            proptest::option::of(arb_id())
        )
            .prop_map(|(method, target)| OwnedMethod::Unknown { method, target }),
    ]
}

fn arb_response() -> impl Strategy<Value = OwnedResponse> {
    (
        arb_id(),
        proptest::option::of(arb_nodes(AddrFamily::V4)),
        proptest::option::of(arb_nodes(AddrFamily::V6)),
        proptest::option::of(vec(arb_addr(), 0..24)),
        proptest::option::of(arb_token()),
        proptest::option::of(arb_bvalue()),
        proptest::option::of(any::<[u8; 32]>()),
        any::<Option<i64>>(),
        proptest::option::of(arb_sig()),
        arb_extra(),
    )
        .prop_map(
            |(id, nodes, nodes6, values, token, v, k, seq, sig, extra)| OwnedResponse {
                id,
                nodes,
                nodes6,
                values,
                token,
                v,
                k,
                seq,
                sig,
                extra,
            },
        )
}

fn arb_bloom() -> impl Strategy<Value = Box<[u8; BLOOM_LEN]>> {
    vec(any::<u8>(), BLOOM_LEN).prop_map(|bits| {
        let mut out = Box::new([0u8; BLOOM_LEN]);
        out.copy_from_slice(&bits);
        out
    })
}

fn arb_extra() -> impl Strategy<Value = OwnedExtra> {
    (
        proptest::option::of(arb_bloom()),
        proptest::option::of(arb_bloom()),
        any::<(Option<i64>, Option<i64>)>(),
        proptest::option::of(vec(arb_id(), 0..8)),
        proptest::option::of(vec(any::<u8>(), 0..300)),
        proptest::option::of(vec(any::<u8>(), 0..100)),
    )
        .prop_map(
            |(bf_seeds, bf_peers, (interval, num), samples, proofs, digests)| OwnedExtra {
                proofs,
                digests,
                bf_seeds,
                bf_peers,
                interval,
                num,
                samples: samples.map(|ids| {
                    let mut out = Vec::new();
                    write_samples(&ids, &mut out);
                    out
                }),
            },
        )
}

fn arb_message() -> impl Strategy<Value = Owned> {
    let kind = prop_oneof![
        (arb_id(), any::<(bool, bool)>(), arb_method()).prop_map(|(id, (n4, n6), method)| {
            OwnedKind::Query {
                id,
                want: Want { n4, n6 },
                method,
            }
        }),
        arb_response().prop_map(OwnedKind::Response),
        (any::<i64>(), arb_bytes(40))
            .prop_map(|(code, message)| OwnedKind::Error { code, message }),
    ];
    (
        arb_bytes(8),
        proptest::option::of(arb_bytes(6)),
        proptest::option::of(arb_addr()),
        any::<bool>(),
        proptest::option::of(arb_bytes(8)),
        kind,
    )
        .prop_map(|(tid, version, ip, read_only, network, kind)| Owned {
            tid,
            version,
            ip,
            read_only,
            network,
            kind,
        })
}

/// A byte-level edit of a datagram.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    // Bias inserted bytes towards bencode's own alphabet, where they do most harm.
    let byte = prop_oneof![
        any::<u8>(),
        proptest::sample::select(b"dlie0123456789:-".to_vec())
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(buf: &mut Vec<u8>, mutation: &Mutation) {
    let at = |i: usize, n: usize| if n == 0 { 0 } else { i % n };
    match *mutation {
        Mutation::Set(i, b) if !buf.is_empty() => {
            let i = at(i, buf.len());
            buf[i] = b;
        }
        Mutation::Insert(i, b) => {
            let i = at(i, buf.len() + 1);
            buf.insert(i, b);
        }
        Mutation::Remove(i) if !buf.is_empty() => {
            let i = at(i, buf.len());
            buf.remove(i);
        }
        Mutation::Truncate(i) => buf.truncate(at(i, buf.len() + 1)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_is_identity(owned in arb_message()) {
        let msg = owned.view();
        let mut out = Vec::new();
        msg.encode(&mut out);
        prop_assert_eq!(bencode::validate(&out), Ok(()));
        let decoded = decode(&out);
        prop_assert_eq!(decoded, Ok(msg));
        // And the encoding is canonical: decoding then encoding gives the same bytes.
        let mut again = Vec::new();
        decoded.expect("decoded").encode(&mut again);
        prop_assert_eq!(again, out);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in arb_bytes(600)) {
        if let Ok(msg) = decode(&bytes) {
            assert_round_trips(&msg);
        }
        let _ = query_tid(&bytes);
        let _ = bencode::validate(&bytes);
    }

    #[test]
    fn bencode_alphabet_never_panics(
        bytes in vec(proptest::sample::select(b"dlie0123456789:-xy".to_vec()), 0..300)
    ) {
        if let Ok(msg) = decode(&bytes) {
            assert_round_trips(&msg);
        }
        let _ = query_tid(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(
        owned in arb_message(),
        mutations in vec(arb_mutation(), 1..6),
    ) {
        let mut buf = Vec::new();
        owned.view().encode(&mut buf);
        for mutation in &mutations {
            mutate(&mut buf, mutation);
            if let Ok(msg) = decode(&buf) {
                assert_round_trips(&msg);
            }
            let _ = query_tid(&buf);
        }
    }

    #[test]
    fn queries_that_decode_have_a_tid(owned in arb_message()) {
        let mut buf = Vec::new();
        let msg = owned.view();
        msg.encode(&mut buf);
        let is_query = matches!(msg.kind, MessageKind::Query(_));
        prop_assert_eq!(query_tid(&buf), is_query.then_some(msg.tid));
    }
}

// ---------------------------------------------------------------------------------
// The fuzz seed corpus: every file decodes without panicking, and round-trips if it
// decodes at all.

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/decode")
}

#[test]
fn fuzz_corpus_never_panics_and_round_trips() {
    let dir = corpus_dir();
    let entries = std::fs::read_dir(&dir).expect("fuzz/corpus/decode exists");
    // Seed files (named `*.bin`) are mostly real messages; the rest are inputs the
    // fuzzer found interesting, mostly malformed: they must only never panic.
    let mut seeds = 0;
    let mut seeds_decoded = 0;
    for entry in entries {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read corpus file");
        let seed = path.extension().is_some_and(|e| e == "bin");
        seeds += usize::from(seed);
        if let Ok(msg) = decode(&bytes) {
            seeds_decoded += usize::from(seed);
            assert_round_trips(&msg);
        }
        let _ = query_tid(&bytes);
    }
    assert!(seeds >= 20, "only {seeds} seed files");
    assert!(
        seeds_decoded >= seeds / 2,
        "only {seeds_decoded} of {seeds} seeds decode"
    );
}

/// The seed files of `fuzz/corpus/decode/` are exactly what the wire samples and a
/// few hand-made messages give. With `DIPSEA_REGENERATE_CORPUS=1` it rewrites them
/// instead: `DIPSEA_REGENERATE_CORPUS=1 cargo test -p dipsea seed_corpus`.
#[test]
fn seed_corpus_is_up_to_date() {
    let samples = load_samples();
    let dir = corpus_dir();
    let regenerate = std::env::var_os("DIPSEA_REGENERATE_CORPUS").is_some();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        if regenerate {
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(&path, bytes).expect("write corpus file");
        } else {
            let on_disk = std::fs::read(&path).expect("seed file exists");
            assert_eq!(
                on_disk, bytes,
                "{name} is stale: regenerate the seed corpus"
            );
        }
    };
    // (file, section, query?, index among matches) for a spread of shapes.
    let picks: &[(&str, &str, bool, usize, &str)] = &[
        ("libtorrent", "ping", true, 0, "q-ping"),
        ("libtorrent", "ping", false, 0, "r-ping-lt"),
        (
            "libtorrent",
            "find_node_want_n4_n6",
            true,
            0,
            "q-find_node-want",
        ),
        ("libtorrent", "find_node", false, 0, "r-find_node-lt"),
        (
            "libtorrent",
            "unknown_method_with_target",
            true,
            0,
            "q-unknown-target",
        ),
        (
            "libtorrent",
            "unknown_method_no_target",
            false,
            0,
            "e-203-with-r",
        ),
        (
            "libtorrent",
            "sample_infohashes_bep51",
            false,
            0,
            "r-sample_infohashes",
        ),
        ("libtorrent", "get_peers_unknown", true, 0, "q-get_peers"),
        (
            "libtorrent",
            "announce_then_get_peers",
            true,
            1,
            "q-announce-implied",
        ),
        (
            "libtorrent",
            "announce_then_get_peers",
            false,
            2,
            "r-get_peers-values-lt",
        ),
        (
            "libtorrent",
            "put_immutable_non_string_value",
            true,
            0,
            "q-put-dict-v",
        ),
        (
            "libtorrent",
            "put_immutable_non_string_value",
            false,
            1,
            "r-get-dict-v",
        ),
        (
            "libtorrent",
            "put_immutable_with_target_field",
            true,
            0,
            "q-put-target",
        ),
        (
            "libtorrent",
            "mutable_put_get_sequence",
            true,
            0,
            "q-put-mutable-salt",
        ),
        (
            "libtorrent",
            "mutable_put_get_sequence",
            false,
            1,
            "r-get-mutable",
        ),
        (
            "libtorrent",
            "mutable_put_get_sequence",
            true,
            2,
            "q-get-seq",
        ),
        (
            "libtorrent",
            "mutable_put_get_sequence",
            true,
            6,
            "q-put-cas",
        ),
        ("libtorrent", "mutable_put_get_sequence", false, 5, "e-302"),
        ("libtorrent", "mutable_salt_too_long", false, 0, "e-207"),
        (
            "libtorrent",
            "mutable_missing_seq",
            true,
            0,
            "q-put-missing-seq",
        ),
        ("libtorrent", "read_only_flag_query", true, 0, "q-ro"),
        (
            "libtorrent",
            "ping_missing_id",
            true,
            0,
            "q-ping-missing-id",
        ),
        ("libtorrent", "ping_no_args", true, 0, "q-ping-no-args"),
        (
            "bittorrent-dht",
            "announce_then_get_peers",
            false,
            2,
            "r-get_peers-values-only",
        ),
        (
            "bittorrent-dht",
            "find_node",
            false,
            0,
            "r-find_node-2-nodes",
        ),
        ("bittorrent-dht", "announce_bad_token", false, 0, "e-203"),
        ("mainline", "ping", false, 0, "r-ping-ro0"),
        ("mainline", "announce_bad_token", false, 0, "e-203-ro0"),
    ];
    for &(file, section, query, index, name) in picks {
        let sample = samples
            .iter()
            .filter(|s| s.file.ends_with(file) && s.section == section && s.query == query)
            .nth(index)
            .unwrap_or_else(|| panic!("no sample {file} {section} {query} {index}"));
        write(&format!("{file}-{name}.bin"), &sample.bytes);
    }
    // Hand-made: BEP 5 examples, IPv6 shapes, and a few near misses.
    write(
        "bep5-get_peers-values.bin",
        b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
    );
    write(
        "bep5-error.bin",
        b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
    );
    let values = [addr("[2001:db8::1]:6881"), addr("1.2.3.4:1")];
    let mut n6 = Vec::new();
    write_compact_node(
        &NodeInfo::new(Id::from_bytes([7; 20]), addr("[2001:db8::2]:6881")),
        &mut n6,
    );
    let v6 = Message {
        tid: b"\0\0\0\x01",
        version: Some(b"DS\0\x01"),
        ip: Some(addr("[2001:db8::3]:51413")),
        read_only: false,
        network: None,
        kind: MessageKind::Response(Response {
            nodes6: Some(CompactNodes::v6(&n6).expect("v6")),
            values: Some(CompactPeers::from_addrs(&values)),
            token: Some(b"\x01\x02\x03\x04"),
            ..Response::new(Id::from_bytes([8; 20]))
        }),
    };
    let mut out = Vec::new();
    v6.encode(&mut out);
    write("own-r-ipv6.bin", &out);
    // BEP 33 and BEP 51 answers as dipsea sends them.
    let mut seeds = BloomFilter::new();
    seeds.insert_ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
    let mut peers = BloomFilter::new();
    peers.insert_ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
    let mut samples = Vec::new();
    write_samples(
        &[Id::from_bytes([9; 20]), Id::from_bytes([10; 20])],
        &mut samples,
    );
    let key = crate::push::SigningKey::from_bytes(&[11; 32]);
    let member_addr = addr("10.0.0.2:6881");
    let mut member = Vec::new();
    write_compact_node(
        &NodeInfo::new(
            crate::onehop::member_id(&key.verifying_key().to_bytes()),
            member_addr,
        ),
        &mut member,
    );
    let mut proof = Vec::new();
    crate::onehop::JoinProof::sign(&key, 1, member_addr).write(&mut proof);
    for (name, response) in [
        (
            "own-r-scrape.bin",
            Response {
                bf_seeds: Some(seeds.as_bytes()),
                bf_peers: Some(peers.as_bytes()),
                token: Some(b"\x01\x02\x03\x04"),
                ..Response::new(Id::from_bytes([8; 20]))
            },
        ),
        (
            "own-r-sample_infohashes.bin",
            Response {
                interval: Some(21600),
                num: Some(2),
                samples: Some(Samples::from_bytes(&samples).expect("samples")),
                ..Response::new(Id::from_bytes([8; 20]))
            },
        ),
        // A one-hop digest answer: the whole digest and the 16 range digests.
        (
            "own-r-digest-ranges.bin",
            Response {
                num: Some(2),
                token: Some(&[5; 20]),
                digests: Some(&[6; 320]),
                ..Response::new(Id::from_bytes([8; 20]))
            },
        ),
        // A one-hop member page: one member and its signed join.
        (
            "own-r-members-proofs.bin",
            Response {
                num: Some(2),
                nodes: Some(CompactNodes::v4(&member).expect("v4")),
                proofs: Some(&proof),
                ..Response::new(Id::from_bytes([8; 20]))
            },
        ),
    ] {
        let mut bytes = Vec::new();
        Message {
            tid: b"\0\0\0\x02",
            version: Some(b"DS\0\x01"),
            ip: None,
            read_only: false,
            network: None,
            kind: MessageKind::Response(response),
        }
        .encode(&mut bytes);
        write(name, &bytes);
    }
    write("bad-trailing.bin", &[out.as_slice(), b"e"].concat());
    write("bad-duplicate-key.bin", b"d1:t2:aa1:t2:bb1:y1:ee");
    write("bad-int-minus-zero.bin", b"d1:eli-0e1:xe1:t2:aa1:y1:ee");
    write("bad-deep.bin", &[vec![b'l'; 40], vec![b'e'; 40]].concat());
    write("bad-truncated.bin", &out[..out.len() / 2]);
}
