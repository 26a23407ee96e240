//! Subscriptions to a BEP 44 mutable item or to an info-hash's peers: the queries
//! `dipsea_sub` (subscribe, renew, unsubscribe), `dipsea_notify` (a newer version
//! pushed to a subscriber) and `dipsea_peers` (newly announced peers pushed). A dipsea
//! extension to KRPC, sent only to contacts whose client version speaks it (see
//! [`crate::subscribe::speaks_subscribe`]).
//!
//! BEP 50 (draft, "Publish/Subscribe Protocol") names the topic of every message with
//! the key `c`, the 20-byte target of the mutable item (`SHA-1(k ‖ salt)`), and pushes
//! updates as BEP 44 `put`s along a per-topic overlay; it gives no subscribe or notify
//! message. We keep its `c` and carry the full BEP 44 item (`k`, `salt`, `seq`, `sig`,
//! `v`) in the notification, so the subscriber verifies it as a `put` is verified.
//!
//! Entry points: [`decode_subscribe`] and [`decode_notify`] read a whole datagram;
//! [`SubscribeQuery::encode`] and [`NotifyQuery::encode`] write one. The main decoder
//! ([`super::decode`]) reads both as unknown methods; the node decodes them again here.
//!
//! # Format
//!
//! ```text
//! subscribe, renew, unsubscribe:
//! {"t": tid, "y": "q", "q": "dipsea_sub", "v": client version,
//!  "a": {"c": target,        20 bytes: SHA-1(k ‖ salt), the topic (BEP 50's key)
//!        "id": sender's id,
//!        "lease": seconds,   0 unsubscribes; else granted up to the node's bound
//!        "p": 1}}            only for the peers of the info-hash c (else absent)
//! answer: {"id": ..., "lease": seconds granted} (and, when the node stores the
//!          item, its k, seq, sig and v, as a BEP 44 get answer carries them)
//!
//! notify:
//! {"t": tid, "y": "q", "q": "dipsea_notify", "v": client version,
//!  "a": {"c": target, "id": sender's id,
//!        "k": public key, "salt": salt (absent when empty), "seq": n,
//!        "sig": signature, "v": bencoded value}}
//! answer: {"id": ...}; a refusal is a KRPC error
//!
//! peers (to a subscriber of the info-hash c's peers):
//! {"t": tid, "y": "q", "q": "dipsea_peers", "v": client version,
//!  "a": {"c": info-hash, "id": sender's id,
//!        "values": [compact peers]}}  as a get_peers answer's (BEP 5, BEP 32)
//! answer: {"id": ...}; a refusal is a KRPC error
//! ```

use super::bencode::{check_len, write_bytes, write_int, Reader, Value};
use super::compact::CompactPeers;
use super::krpc::{req_array as array, req_bytes as bytes, req_id as id, req_int as int};
use super::krpc::{PUBLIC_KEY_LEN, SIGNATURE_LEN};
use super::DecodeError;
use crate::id::Id;

/// The method name of a subscribe, renew or unsubscribe query (`q`).
pub const SUBSCRIBE_METHOD: &[u8] = b"dipsea_sub";

/// The method name of a notification (`q`).
pub const NOTIFY_METHOD: &[u8] = b"dipsea_notify";

/// The method name of a peers notification (`q`).
pub const PEERS_METHOD: &[u8] = b"dipsea_peers";

/// Most peers one `dipsea_peers` carries when a node sends it (any number is
/// decoded; the datagram bound holds them all the same).
pub const MAX_NOTIFY_PEERS: usize = 32;

/// A whole `dipsea_sub` query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeQuery<'a> {
    /// Transaction id (`t`).
    pub tid: &'a [u8],
    /// Client version (`v`).
    pub version: Option<&'a [u8]>,
    /// The sender's node id (`a.id`).
    pub id: Id,
    /// The mutable item's target, `SHA-1(k ‖ salt)` (`a.c`).
    pub target: Id,
    /// The lease asked for, in seconds (`a.lease`): 0 ends the subscription.
    pub lease: u32,
    /// `a.p = 1`: the topic is the peers of the info-hash `target`, not a mutable
    /// item.
    pub peers: bool,
}

/// A whole `dipsea_peers` query: peers newly announced for an info-hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeersQuery<'a> {
    /// Transaction id (`t`).
    pub tid: &'a [u8],
    /// Client version (`v`).
    pub version: Option<&'a [u8]>,
    /// The sender's node id (`a.id`).
    pub id: Id,
    /// The info-hash (`a.c`).
    pub info_hash: Id,
    /// The peers (`a.values`).
    pub peers: CompactPeers<'a>,
}

/// A whole `dipsea_notify` query: a signed BEP 44 item, borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyQuery<'a> {
    /// Transaction id (`t`).
    pub tid: &'a [u8],
    /// Client version (`v`).
    pub version: Option<&'a [u8]>,
    /// The sender's node id (`a.id`).
    pub id: Id,
    /// The topic: the item's target as the sender states it (`a.c`); the receiver
    /// checks it is `SHA-1(k ‖ salt)`.
    pub target: Id,
    /// The writer's public key (`a.k`).
    pub k: &'a [u8; PUBLIC_KEY_LEN],
    /// The salt (`a.salt`, empty when absent).
    pub salt: &'a [u8],
    /// The sequence number (`a.seq`).
    pub seq: i64,
    /// The signature over salt, seq and v (`a.sig`).
    pub sig: &'a [u8; SIGNATURE_LEN],
    /// The bencoded value, raw (`a.v`).
    pub v: &'a [u8],
}

fn write_envelope_end(out: &mut Vec<u8>, method: &[u8], tid: &[u8], version: Option<&[u8]>) {
    out.extend_from_slice(b"e1:q");
    write_bytes(out, method);
    out.extend_from_slice(b"1:t");
    write_bytes(out, tid);
    if let Some(version) = version {
        out.extend_from_slice(b"1:v");
        write_bytes(out, version);
    }
    out.extend_from_slice(b"1:y1:qe");
}

impl SubscribeQuery<'_> {
    /// Appends the bencoding of the query, keys in sorted order.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"d1:ad1:c20:");
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b"2:id20:");
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(b"5:lease");
        write_int(out, i64::from(self.lease));
        if self.peers {
            out.extend_from_slice(b"1:pi1e");
        }
        write_envelope_end(out, SUBSCRIBE_METHOD, self.tid, self.version);
    }
}

impl PeersQuery<'_> {
    /// Appends the bencoding of the query, keys in sorted order.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"d1:ad1:c20:");
        out.extend_from_slice(self.info_hash.as_bytes());
        out.extend_from_slice(b"2:id20:");
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(b"6:values");
        self.peers.encode(out);
        write_envelope_end(out, PEERS_METHOD, self.tid, self.version);
    }
}

impl NotifyQuery<'_> {
    /// Appends the bencoding of the query, keys in sorted order.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"d1:ad1:c20:");
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b"2:id20:");
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(b"1:k32:");
        out.extend_from_slice(self.k);
        if !self.salt.is_empty() {
            out.extend_from_slice(b"4:salt");
            write_bytes(out, self.salt);
        }
        out.extend_from_slice(b"3:seq");
        write_int(out, self.seq);
        out.extend_from_slice(b"3:sig64:");
        out.extend_from_slice(self.sig);
        out.extend_from_slice(b"1:v");
        out.extend_from_slice(self.v);
        write_envelope_end(out, NOTIFY_METHOD, self.tid, self.version);
    }
}

/// The keys of `a` either query uses; `v` is kept raw (any bencoded value).
#[derive(Default)]
struct ArgFields<'a> {
    c: Option<Value<'a>>,
    id: Option<Value<'a>>,
    k: Option<Value<'a>>,
    lease: Option<Value<'a>>,
    p: Option<Value<'a>>,
    salt: Option<Value<'a>>,
    seq: Option<Value<'a>>,
    sig: Option<Value<'a>>,
    v: Option<&'a [u8]>,
    values: Option<&'a [u8]>,
}

/// The envelope of a query of `method`: tid, version and the arguments.
struct Envelope<'a> {
    tid: &'a [u8],
    version: Option<&'a [u8]>,
    a: ArgFields<'a>,
}

fn decode_envelope<'a>(buf: &'a [u8], method: &'static [u8]) -> Result<Envelope<'a>, DecodeError> {
    check_len(buf)?;
    let mut reader = Reader::new(buf);
    if !reader.at_dict() {
        return Err(DecodeError::WrongType {
            key: "message",
            expected: "a dict",
        });
    }
    let (mut t, mut y, mut q, mut v) = (None, None, None, None);
    let mut a = None;
    let mut dict = reader.begin_dict(1)?;
    while let Some(key) = reader.next_key(&mut dict)? {
        let slot = match key {
            b"t" => &mut t,
            b"y" => &mut y,
            b"q" => &mut q,
            b"v" => &mut v,
            b"a" if reader.at_dict() => {
                a = Some(read_args(&mut reader)?);
                continue;
            }
            _ => {
                reader.skip_value(2)?;
                continue;
            }
        };
        reader.value_into(2, slot)?;
    }
    reader.finish()?;
    if bytes(y, "y")? != b"q" {
        return Err(DecodeError::WrongType {
            key: "y",
            expected: "\"q\"",
        });
    }
    if bytes(q, "q")? != method {
        return Err(DecodeError::WrongType {
            key: "q",
            expected: "this extension's method",
        });
    }
    Ok(Envelope {
        tid: bytes(t, "t")?,
        version: match v {
            None => None,
            Some(_) => Some(bytes(v, "v")?),
        },
        a: a.ok_or(DecodeError::MissingKey("a"))?,
    })
}

fn read_args<'a>(reader: &mut Reader<'a>) -> Result<ArgFields<'a>, DecodeError> {
    let mut a = ArgFields::default();
    let mut dict = reader.begin_dict(2)?;
    while let Some(key) = reader.next_key(&mut dict)? {
        let slot = match key {
            b"c" => &mut a.c,
            b"id" => &mut a.id,
            b"k" => &mut a.k,
            b"lease" => &mut a.lease,
            b"p" => &mut a.p,
            b"salt" => &mut a.salt,
            b"seq" => &mut a.seq,
            b"sig" => &mut a.sig,
            b"v" => {
                a.v = Some(reader.skip_value(3)?);
                continue;
            }
            b"values" => {
                a.values = Some(reader.skip_value(3)?);
                continue;
            }
            _ => {
                reader.skip_value(3)?;
                continue;
            }
        };
        reader.value_into(3, slot)?;
    }
    Ok(a)
}

/// Decodes a `dipsea_sub` query. Never panics and does not allocate.
pub fn decode_subscribe(buf: &[u8]) -> Result<SubscribeQuery<'_>, DecodeError> {
    let e = decode_envelope(buf, SUBSCRIBE_METHOD)?;
    let lease = u32::try_from(int(e.a.lease, "lease")?).map_err(|_| DecodeError::WrongType {
        key: "lease",
        expected: "a number of seconds",
    })?;
    Ok(SubscribeQuery {
        tid: e.tid,
        version: e.version,
        id: id(e.a.id, "id")?,
        target: id(e.a.c, "c")?,
        lease,
        peers: match e.a.p {
            None => false,
            Some(_) => int(e.a.p, "p")? != 0,
        },
    })
}

/// Decodes a `dipsea_peers` query. Never panics and does not allocate.
pub fn decode_peers(buf: &[u8]) -> Result<PeersQuery<'_>, DecodeError> {
    let e = decode_envelope(buf, PEERS_METHOD)?;
    let raw = e.a.values.ok_or(DecodeError::MissingKey("values"))?;
    Ok(PeersQuery {
        tid: e.tid,
        version: e.version,
        id: id(e.a.id, "id")?,
        info_hash: id(e.a.c, "c")?,
        peers: CompactPeers::from_bencoded_list(raw)?,
    })
}

/// Decodes a `dipsea_notify` query. Never panics and does not allocate; the item is
/// not verified here (see [`crate::subscribe::verify_notify`]).
pub fn decode_notify(buf: &[u8]) -> Result<NotifyQuery<'_>, DecodeError> {
    let e = decode_envelope(buf, NOTIFY_METHOD)?;
    Ok(NotifyQuery {
        tid: e.tid,
        version: e.version,
        id: id(e.a.id, "id")?,
        target: id(e.a.c, "c")?,
        k: array(e.a.k, "k")?,
        salt: match e.a.salt {
            None => b"",
            Some(_) => bytes(e.a.salt, "salt")?,
        },
        seq: int(e.a.seq, "seq")?,
        sig: array(e.a.sig, "sig")?,
        v: e.a.v.ok_or(DecodeError::MissingKey("v"))?,
    })
}

/// Appends the answer to a `dipsea_sub`: the answerer's `id`, the `lease` granted and,
/// when it stores the item, the item (`k`, `seq`, `sig`, `v`, as a BEP 44 `get`
/// answer), so that the subscriber starts from the current version; for a
/// subscription to an info-hash's peers, the peers stored now (`values`, as a
/// `get_peers` answer; absent when `peers` is empty).
pub fn encode_subscribe_answer(
    tid: &[u8],
    version: &[u8],
    own: &Id,
    lease: u32,
    item: Option<&crate::store::MutableItem>,
    peers: &[std::net::SocketAddr],
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"d1:rd2:id20:");
    out.extend_from_slice(own.as_bytes());
    if let Some(item) = item {
        out.extend_from_slice(b"1:k32:");
        out.extend_from_slice(&item.k);
    }
    out.extend_from_slice(b"5:lease");
    write_int(out, i64::from(lease));
    if let Some(item) = item {
        out.extend_from_slice(b"3:seq");
        write_int(out, item.seq);
        out.extend_from_slice(b"3:sig64:");
        out.extend_from_slice(&item.sig);
        out.extend_from_slice(b"1:v");
        out.extend_from_slice(&item.v);
    }
    if !peers.is_empty() {
        out.extend_from_slice(b"6:values");
        CompactPeers::from_addrs(peers).encode(out);
    }
    out.extend_from_slice(b"e1:t");
    write_bytes(out, tid);
    out.extend_from_slice(b"1:v");
    write_bytes(out, version);
    out.extend_from_slice(b"1:y1:re");
}

/// Reads the `lease` an answer to a `dipsea_sub` carries (the main decoder skips
/// keys it does not know); `None` when absent or malformed.
pub fn answer_lease(buf: &[u8]) -> Option<u32> {
    check_len(buf).ok()?;
    let mut reader = Reader::new(buf);
    let mut dict = reader.begin_dict(1).ok()?;
    while let Some(key) = reader.next_key(&mut dict).ok()? {
        if key == b"r" && reader.at_dict() {
            let mut r = reader.begin_dict(2).ok()?;
            while let Some(key) = reader.next_key(&mut r).ok()? {
                if key == b"lease" {
                    return u32::try_from(reader.read_int().ok()?).ok();
                }
                reader.skip_value(3).ok()?;
            }
            return None;
        }
        reader.skip_value(2).ok()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode, MessageKind, QueryMethod};

    fn notify<'a>(k: &'a [u8; 32], sig: &'a [u8; 64], salt: &'a [u8]) -> NotifyQuery<'a> {
        NotifyQuery {
            tid: b"nn",
            version: Some(b"DS\x00\x03"),
            id: Id::from_bytes([4; 20]),
            target: Id::from_bytes([5; 20]),
            k,
            salt,
            seq: 7,
            sig,
            v: b"l5:helloi3ee",
        }
    }

    #[test]
    fn subscribe_round_trips_canonically() {
        let q = SubscribeQuery {
            tid: b"ab",
            version: Some(b"DS\x00\x03"),
            id: Id::from_bytes([1; 20]),
            target: Id::from_bytes([2; 20]),
            lease: 600,
            peers: false,
        };
        let mut out = Vec::new();
        q.encode(&mut out);
        let mut of_peers = Vec::new();
        SubscribeQuery { peers: true, ..q }.encode(&mut of_peers);
        super::super::bencode::validate(&of_peers).expect("valid bencode");
        assert_eq!(
            decode_subscribe(&of_peers).expect("decodes"),
            SubscribeQuery { peers: true, ..q }
        );
        super::super::bencode::validate(&out).expect("valid bencode");
        let back = decode_subscribe(&out).expect("decodes");
        assert_eq!(back, q);
        let mut again = Vec::new();
        back.encode(&mut again);
        assert_eq!(again, out);
        let msg = decode(&out).expect("a KRPC query");
        let MessageKind::Query(query) = msg.kind else {
            panic!("not a query")
        };
        assert!(matches!(
            query.method,
            QueryMethod::Unknown {
                method: SUBSCRIBE_METHOD,
                ..
            }
        ));
    }

    #[test]
    fn peers_round_trip_and_bad_ones_are_refused() {
        let addrs: Vec<std::net::SocketAddr> = vec![
            "10.0.0.1:6881".parse().expect("v4"),
            "[2001:db8::1]:51413".parse().expect("v6"),
        ];
        let q = PeersQuery {
            tid: b"pp",
            version: Some(b"DS\x00\x03"),
            id: Id::from_bytes([1; 20]),
            info_hash: Id::from_bytes([3; 20]),
            peers: CompactPeers::from_addrs(&addrs),
        };
        let mut out = Vec::new();
        q.encode(&mut out);
        super::super::bencode::validate(&out).expect("valid bencode");
        let back = decode_peers(&out).expect("decodes");
        assert_eq!(back, q);
        assert_eq!(back.peers.iter().collect::<Vec<_>>(), addrs);
        let mut again = Vec::new();
        back.encode(&mut again);
        assert_eq!(again, out);
        assert!(decode_subscribe(&out).is_err() && decode_notify(&out).is_err());
        let cases: [(&[u8], &[u8]); 3] = [
            (b"6:values", b"6:valuex"),
            (b"1:c20:", b"1:c19:"),
            // A 5-byte address.
            (b"6:\x0a\x00", b"5:\x0a\x00"),
        ];
        for (from, to) in cases {
            let at = out
                .windows(from.len())
                .position(|w| w == from)
                .expect("in the query");
            let mut bad = out.clone();
            bad.splice(at..at + from.len(), to.iter().copied());
            assert!(decode_peers(&bad).is_err(), "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn notify_round_trips_with_and_without_salt() {
        let (k, sig) = ([7u8; 32], [9u8; 64]);
        for salt in [&b""[..], b"topic"] {
            let q = notify(&k, &sig, salt);
            let mut out = Vec::new();
            q.encode(&mut out);
            super::super::bencode::validate(&out).expect("valid bencode");
            let back = decode_notify(&out).expect("decodes");
            assert_eq!(back, q);
            let mut again = Vec::new();
            back.encode(&mut again);
            assert_eq!(again, out);
            assert!(decode_subscribe(&out).is_err());
        }
    }

    #[test]
    fn rejects_bad_fields() {
        let (k, sig) = ([7u8; 32], [9u8; 64]);
        let mut good = Vec::new();
        notify(&k, &sig, b"").encode(&mut good);
        let cases: [(&[u8], &[u8]); 4] = [
            (b"3:seqi7e", b"3:seq1:7"),
            (b"1:k32:", b"1:k31:"),
            (b"1:c20:", b"1:c19:"),
            (b"1:vl5:helloi3ee", b"1:xl5:helloi3ee"),
        ];
        for (from, to) in cases {
            let pos = good
                .windows(from.len())
                .position(|w| w == from)
                .expect("field present");
            let mut bad = good.clone();
            bad.splice(pos..pos + from.len(), to.iter().copied());
            assert!(
                decode_notify(&bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(to)
            );
        }
        let negative = b"d1:ad1:c20:aaaaaaaaaaaaaaaaaaaa2:id20:bbbbbbbbbbbbbbbbbbbb5:leasei-1ee1:q10:dipsea_sub1:t2:aa1:y1:qe";
        assert!(decode_subscribe(negative).is_err());
        assert!(decode_subscribe(b"").is_err());
        assert!(decode_notify(b"le").is_err());
    }

    #[test]
    fn the_lease_of_an_answer_is_read() {
        let answer = b"d1:rd2:id20:abcdefghij01234567895:leasei300ee1:t2:aa1:y1:re";
        assert_eq!(answer_lease(answer), Some(300));
        assert_eq!(
            answer_lease(b"d1:rd2:id20:abcdefghij0123456789e1:t2:aa1:y1:re"),
            None
        );
        assert_eq!(answer_lease(b"garbage"), None);
    }

    /// The seeds of `fuzz/corpus/subscribe/`: subscribe, renew, unsubscribe, and
    /// notifications signed by a real key, with and without salt.
    fn seeds() -> Vec<Vec<u8>> {
        let key = crate::keypair::Keypair::from_seed(&[21; 32]);
        let k = key.public_key();
        let mut seeds = Vec::new();
        for lease in [600, 300, 0] {
            let mut out = Vec::new();
            SubscribeQuery {
                tid: b"sb",
                version: Some(b"DS\x00\x03"),
                id: Id::from_bytes([1; 20]),
                target: key.target(b""),
                lease,
                peers: false,
            }
            .encode(&mut out);
            seeds.push(out);
        }
        let mut out = Vec::new();
        SubscribeQuery {
            tid: b"sp",
            version: Some(b"DS\x00\x03"),
            id: Id::from_bytes([1; 20]),
            target: Id::from_bytes([0x3a; 20]),
            lease: 600,
            peers: true,
        }
        .encode(&mut out);
        seeds.push(out);
        let addrs: Vec<std::net::SocketAddr> = vec![
            "10.1.2.3:6881".parse().expect("v4"),
            "[2001:db8::7]:51413".parse().expect("v6"),
        ];
        let mut out = Vec::new();
        PeersQuery {
            tid: b"pe",
            version: Some(b"DS\x00\x03"),
            id: Id::from_bytes([2; 20]),
            info_hash: Id::from_bytes([0x3a; 20]),
            peers: CompactPeers::from_addrs(&addrs),
        }
        .encode(&mut out);
        seeds.push(out);
        for (salt, seq, v) in [
            (&b""[..], 1, &b"5:hello"[..]),
            (b"news", 7, b"l5:helloi3ee"),
        ] {
            let sig = key.sign(salt, seq, v);
            let mut out = Vec::new();
            NotifyQuery {
                tid: b"nt",
                version: Some(b"DS\x00\x03"),
                id: Id::from_bytes([2; 20]),
                target: key.target(salt),
                k: &k,
                salt,
                seq,
                sig: &sig,
                v,
            }
            .encode(&mut out);
            seeds.push(out);
        }
        seeds
    }

    fn corpus_dir() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/subscribe")
    }

    /// Every file of the corpus goes through the fuzz target's checks; the seeds are
    /// in it (`DIPSEA_REGENERATE_CORPUS=1` writes them).
    #[test]
    fn fuzz_corpus_replays() {
        let dir = corpus_dir();
        if std::env::var_os("DIPSEA_REGENERATE_CORPUS").is_some() {
            std::fs::create_dir_all(&dir).expect("corpus directory");
            for seed in seeds() {
                let name = Id::sha1(&seed).to_string();
                std::fs::write(dir.join(name), &seed).expect("write seed");
            }
        }
        let mut replayed = 0;
        for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/subscribe exists") {
            let bytes = std::fs::read(entry.expect("entry").path()).expect("read");
            if let Ok(q) = decode_subscribe(&bytes) {
                let mut out = Vec::new();
                q.encode(&mut out);
                assert_eq!(decode_subscribe(&out).expect("decodes"), q);
            }
            if let Ok(q) = decode_notify(&bytes) {
                let mut out = Vec::new();
                q.encode(&mut out);
                assert_eq!(decode_notify(&out).expect("decodes"), q);
                assert!(
                    crate::subscribe::verify_notify(
                        &q,
                        &crate::rpc::signature::SignatureCache::new()
                    )
                    .is_ok(),
                    "seeds are signed"
                );
            }
            if let Ok(q) = decode_peers(&bytes) {
                let mut out = Vec::new();
                q.encode(&mut out);
                assert_eq!(decode_peers(&out).expect("decodes"), q);
            }
            replayed += 1;
        }
        for seed in seeds() {
            let name = Id::sha1(&seed).to_string();
            assert!(
                dir.join(&name).exists(),
                "seed {name} missing: regenerate the corpus"
            );
        }
        assert!(replayed >= 5, "corpus too small: {replayed}");
    }
}
