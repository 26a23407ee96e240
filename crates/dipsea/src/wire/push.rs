//! The broadcast query `dipsea_bcast`: a dipsea extension to KRPC that carries a signed
//! message down the broadcast tree of the Kademlia overlay (see [`crate::push`]).
//!
//! Entry points: [`decode_broadcast`] reads a whole datagram whose method is
//! [`BROADCAST_METHOD`]; [`BroadcastQuery::encode`] writes one; [`signed_bytes`] builds
//! what the origin's ed25519 signature covers. The acknowledgement is a plain response
//! `{"id": ...}`; a refusal is a KRPC error (see [`crate::push::Refusal::code`]).
//!
//! The main decoder ([`super::decode`]) reads a `dipsea_bcast` query as an unknown
//! method; the node then decodes the datagram again with [`decode_broadcast`], so that
//! nothing of this extension touches the Mainline message types.
//!
//! # Format
//!
//! ```text
//! {"t": tid, "y": "q", "q": "dipsea_bcast", "v": client version,
//!  "a": {"h": height,            subtree height the receiver is responsible for, 0..=160
//!        "id": sender's node id,
//!        "k": origin public key,   32 bytes, ed25519
//!        "n": prefix length,       bits of `target` that name the range, 0..=160
//!        "r": 1,                   only in a rescue (see BroadcastArgs::rescue)
//!        "seq": sequence number,   chosen by the origin, one per broadcast
//!        "sig": signature,         64 bytes, see signed_bytes
//!        "target": range prefix,   20 bytes
//!        "v": payload}}            a byte string, at most MAX_PAYLOAD bytes
//! ```
//!
//! The height changes at every hop, so it is not signed; everything the origin chose is.

use super::bencode::{decode_bytes, write_bytes, write_int, Value};
use super::krpc::{
    opt_bytes, opt_int, read_top, req_array, req_bytes, req_id, req_int, TopFields, PUBLIC_KEY_LEN,
    SIGNATURE_LEN,
};
use super::DecodeError;
use crate::id::{Id, ID_BITS};

/// The method name of a broadcast query (`q`).
pub const BROADCAST_METHOD: &[u8] = b"dipsea_bcast";

/// Largest broadcast payload, in bytes: 1,024.
///
/// With the envelope, the origin's key and signature a full broadcast datagram is
/// about 1,280 bytes, the IPv6 minimum MTU: under the 1,500 bytes of an Ethernet
/// frame and well under a node's receive limit ([`crate::NodeConfig::max_datagram`]).
pub const MAX_PAYLOAD: usize = 1024;

/// The arguments of a broadcast (`a`), borrowed from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BroadcastArgs<'a> {
    /// The origin's ed25519 public key (`k`).
    pub origin: &'a [u8; PUBLIC_KEY_LEN],
    /// The origin's sequence number for this broadcast (`seq`).
    pub seq: i64,
    /// The key range: its prefix (`target`), of which the first `prefix_len` bits count.
    pub prefix: Id,
    /// Bits of `prefix` that name the range (`n`): 0 is the whole keyspace.
    pub prefix_len: u8,
    /// The height of the subtree the receiver is responsible for (`h`): it delivers,
    /// then forwards to the ids that share at least `160 - height` bits with its own.
    pub height: u8,
    /// The message (`v`); decoded at any length, refused over [`MAX_PAYLOAD`].
    pub payload: &'a [u8],
    /// A rescue (`r: 1`): the receiver, which has the broadcast already, is asked to
    /// hand off only its bucket `160 - height` (a subtree whose hand-off failed at
    /// the sender), not its whole subtree of `height`.
    pub rescue: bool,
    /// The origin's signature (`sig`) over [`signed_bytes`].
    pub sig: &'a [u8; SIGNATURE_LEN],
}

/// A whole `dipsea_bcast` query: envelope and arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BroadcastQuery<'a> {
    /// Transaction id (`t`), echoed in the acknowledgement.
    pub tid: &'a [u8],
    /// Client version (`v`).
    pub version: Option<&'a [u8]>,
    /// The sender's node id (`a.id`).
    pub id: Id,
    /// The broadcast.
    pub args: BroadcastArgs<'a>,
}

/// Appends the bytes an origin signs: a domain tag (`12:dipsea_bcast`, so that no
/// broadcast signature is ever a valid BEP 44 item signature, whose signed bytes start
/// with `4:salt` or `3:seq`), then `1:ni<n>e3:seqi<seq>e6:target20:<prefix>1:v<len>:<payload>`.
pub fn signed_bytes(seq: i64, prefix: &Id, prefix_len: u8, payload: &[u8], out: &mut Vec<u8>) {
    write_bytes(out, BROADCAST_METHOD);
    out.extend_from_slice(b"1:n");
    write_int(out, i64::from(prefix_len));
    out.extend_from_slice(b"3:seq");
    write_int(out, seq);
    out.extend_from_slice(b"6:target20:");
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(b"1:v");
    write_bytes(out, payload);
}

impl BroadcastQuery<'_> {
    /// Appends the bencoding of the query, keys in sorted order.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let a = &self.args;
        out.extend_from_slice(b"d1:ad1:h");
        write_int(out, i64::from(a.height));
        out.extend_from_slice(b"2:id20:");
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(b"1:k32:");
        out.extend_from_slice(a.origin);
        out.extend_from_slice(b"1:n");
        write_int(out, i64::from(a.prefix_len));
        if a.rescue {
            out.extend_from_slice(b"1:ri1e");
        }
        out.extend_from_slice(b"3:seq");
        write_int(out, a.seq);
        out.extend_from_slice(b"3:sig64:");
        out.extend_from_slice(a.sig);
        out.extend_from_slice(b"6:target20:");
        out.extend_from_slice(a.prefix.as_bytes());
        out.extend_from_slice(b"1:v");
        write_bytes(out, a.payload);
        out.extend_from_slice(b"e1:q");
        write_bytes(out, BROADCAST_METHOD);
        out.extend_from_slice(b"1:t");
        write_bytes(out, self.tid);
        if let Some(version) = self.version {
            out.extend_from_slice(b"1:v");
            write_bytes(out, version);
        }
        out.extend_from_slice(b"1:y1:qe");
    }
}

/// Decodes a `dipsea_bcast` query.
///
/// As strict as [`super::decode`] on structure, with the same key-reading loop
/// (`krpc::read_top`); tolerant of unknown keys and keys out of order. Fails with
/// [`DecodeError::WrongType`] on `y` or `q` when the datagram is not a broadcast
/// query. Never panics and does not allocate.
pub fn decode_broadcast(buf: &[u8]) -> Result<BroadcastQuery<'_>, DecodeError> {
    let mut top = TopFields::default();
    read_top(buf, &mut top)?;
    if req_bytes(top.y, "y")? != b"q" {
        return Err(DecodeError::WrongType {
            key: "y",
            expected: "\"q\"",
        });
    }
    if req_bytes(top.q, "q")? != BROADCAST_METHOD {
        return Err(DecodeError::WrongType {
            key: "q",
            expected: "\"dipsea_bcast\"",
        });
    }
    top.a_is.check("a")?;
    let a = &top.a;
    Ok(BroadcastQuery {
        tid: req_bytes(top.t, "t")?,
        version: opt_bytes(top.v, "v")?,
        id: req_id(a.id, "id")?,
        args: BroadcastArgs {
            origin: req_array(a.k, "k")?,
            seq: req_int(a.seq, "seq")?,
            prefix: req_id(a.target, "target")?,
            prefix_len: bits(a.n, "n")?,
            height: bits(a.h, "h")?,
            // `v` is kept raw (any type) by the shared loop: here, a byte string.
            payload: match a.v {
                None => return Err(DecodeError::MissingKey("v")),
                Some(raw) => decode_bytes(raw).ok_or(DecodeError::WrongType {
                    key: "v",
                    expected: "a byte string",
                })?,
            },
            rescue: opt_int(a.r, "r")?.is_some_and(|r| r != 0),
            sig: req_array(a.sig, "sig")?,
        },
    })
}

/// A bit count or height: an integer from 0 to 160.
fn bits(v: Option<Value<'_>>, key: &'static str) -> Result<u8, DecodeError> {
    let n = req_int(v, key)?;
    u8::try_from(n)
        .ok()
        .filter(|&n| usize::from(n) <= ID_BITS)
        .ok_or(DecodeError::WrongType {
            key,
            expected: "an integer from 0 to 160",
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode, MessageKind, QueryMethod};

    fn sample<'a>(
        payload: &'a [u8],
        origin: &'a [u8; 32],
        sig: &'a [u8; 64],
    ) -> BroadcastQuery<'a> {
        BroadcastQuery {
            tid: b"abcd",
            version: Some(b"DS\x00\x02"),
            id: Id::from_bytes([3; 20]),
            args: BroadcastArgs {
                origin,
                seq: 42,
                prefix: Id::from_bytes([0x3a; 20]),
                prefix_len: 8,
                height: 152,
                payload,
                rescue: false,
                sig,
            },
        }
    }

    #[test]
    fn round_trip_is_canonical() {
        let (origin, sig) = ([7u8; 32], [9u8; 64]);
        let q = sample(b"hello", &origin, &sig);
        let mut out = Vec::new();
        q.encode(&mut out);
        super::super::bencode::validate(&out).expect("valid bencode");
        let back = decode_broadcast(&out).expect("decodes");
        assert_eq!(back, q);
        let mut again = Vec::new();
        back.encode(&mut again);
        assert_eq!(again, out);
    }

    #[test]
    fn a_rescue_round_trips() {
        let (origin, sig) = ([7u8; 32], [9u8; 64]);
        let mut q = sample(b"hello", &origin, &sig);
        q.args.rescue = true;
        let mut out = Vec::new();
        q.encode(&mut out);
        assert!(out.windows(6).any(|w| w == b"1:ri1e"));
        assert_eq!(decode_broadcast(&out).expect("decodes"), q);
    }

    #[test]
    fn the_main_decoder_sees_an_unknown_method() {
        let (origin, sig) = ([7u8; 32], [9u8; 64]);
        let mut out = Vec::new();
        sample(b"x", &origin, &sig).encode(&mut out);
        let msg = decode(&out).expect("a valid KRPC query");
        let MessageKind::Query(query) = msg.kind else {
            panic!("not a query")
        };
        assert_eq!(query.id, Id::from_bytes([3; 20]));
        match query.method {
            QueryMethod::Unknown { method, target } => {
                assert_eq!(method, BROADCAST_METHOD);
                assert_eq!(target, Some(Id::from_bytes([0x3a; 20])));
            }
            other => panic!("decoded as {other:?}"),
        }
    }

    #[test]
    fn rejects_what_is_not_a_broadcast() {
        let ping = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";
        assert!(matches!(
            decode_broadcast(ping),
            Err(DecodeError::WrongType { key: "q", .. })
        ));
        let response = b"d1:rd2:id20:abcdefghij0123456789e1:t2:aa1:y1:re";
        assert!(decode_broadcast(response).is_err());
        assert!(decode_broadcast(b"").is_err());
        assert!(decode_broadcast(b"le").is_err());
    }

    #[test]
    fn rejects_bad_fields() {
        let (origin, sig) = ([7u8; 32], [9u8; 64]);
        let mut good = Vec::new();
        sample(b"hi", &origin, &sig).encode(&mut good);
        let cases: [(&[u8], &[u8]); 5] = [
            (b"1:hi152e", b"1:hi161e"),
            (b"1:ni8e", b"1:ni-1e"),
            (b"3:seqi42e", b"3:seq2:42"),
            (b"1:k32:", b"1:k31:"),
            (b"1:v2:hi", b"1:vi5e"),
        ];
        for (from, to) in cases {
            let pos = good
                .windows(from.len())
                .position(|w| w == from)
                .expect("field present");
            let mut bad = good.clone();
            bad.splice(pos..pos + from.len(), to.iter().copied());
            assert!(
                decode_broadcast(&bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(to)
            );
        }
    }

    #[test]
    fn signed_bytes_are_domain_separated() {
        let mut out = Vec::new();
        signed_bytes(5, &Id::ZERO, 0, b"hi", &mut out);
        let mut expected = b"12:dipsea_bcast1:ni0e3:seqi5e6:target20:".to_vec();
        expected.extend_from_slice(&[0; 20]);
        expected.extend_from_slice(b"1:v2:hi");
        assert_eq!(out, expected);
    }

    #[test]
    fn a_full_payload_fits_a_datagram() {
        let (origin, sig) = ([7u8; 32], [9u8; 64]);
        let payload = [b'x'; MAX_PAYLOAD];
        let mut out = Vec::new();
        sample(&payload, &origin, &sig).encode(&mut out);
        assert!(out.len() <= 1_300, "{} bytes", out.len());
    }
}
