//! Typed KRPC messages (BEP 5, 32, 33, 42, 43, 44, 51) borrowed from the datagram, and their
//! decoder and encoder.
//!
//! Entry points: [`decode`] turns a datagram into a [`Message`]; [`Message::encode`]
//! appends one to a buffer; [`query_tid`] recovers the transaction id of a malformed
//! query so the answerer can still reply with error 203.
//!
//! The decoder walks the datagram once. It keeps the values of the keys it knows and
//! skips (but still validates) the others, then checks types and sizes once the message
//! type `y` is known, since `y` sorts after `a`, `e` and `r`.

use std::net::SocketAddr;

use super::bencode::{check_len, write_bytes, write_int, Reader, Value};
use super::compact::{encode_nodes, read_compact_addr, read_peers, write_compact_addr};
use super::compact::{AddrFamily, CompactNodes, CompactPeers};
use super::DecodeError;
use super::{bloom::BLOOM_LEN, sample::Samples};
use crate::id::Id;

/// Length of a BEP 44 ed25519 public key (`k`).
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of a BEP 44 ed25519 signature (`sig`).
pub const SIGNATURE_LEN: usize = 64;
/// Largest token accepted, in bytes.
///
/// BEP 5 leaves tokens opaque; deployed ones are 4 (libtorrent, mainline) to 20 bytes
/// (bittorrent-dht). The bound keeps what a lookup stores per contact small.
pub const MAX_TOKEN_LEN: usize = 64;

/// One KRPC message (BEP 5): a query, a response or an error, with its envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// Transaction id (`t`): any length is accepted and must be echoed as is; send
    /// 4 bytes (see `PROTOCOL.md`).
    pub tid: &'a [u8],
    /// Client version (`v`), e.g. `LT` and two version bytes.
    pub version: Option<&'a [u8]>,
    /// The requester's endpoint as the answerer sees it (`ip`, BEP 42).
    pub ip: Option<SocketAddr>,
    /// The sender is a read-only node (`ro: 1`, BEP 43): answer it, do not add it to
    /// the routing table.
    pub read_only: bool,
    /// The private network the sender belongs to (`zn`, a dipsea extension; see
    /// [`crate::node::NetworkId`]): absent on the public Mainline network. Any length
    /// is decoded; a node compares it with its own and drops messages of other
    /// networks. Written last, as `zn` sorts after every Mainline key.
    pub network: Option<&'a [u8]>,
    /// What the message is.
    pub kind: MessageKind<'a>,
}

impl<'a> Message<'a> {
    /// A plain query from `id`: no client version, no `ip`, not read-only, no `want`.
    pub fn query(tid: &'a [u8], id: Id, method: QueryMethod<'a>) -> Message<'a> {
        Message {
            tid,
            version: None,
            ip: None,
            read_only: false,
            network: None,
            kind: MessageKind::Query(Query {
                id,
                want: Want::default(),
                method,
            }),
        }
    }
}

/// The three kinds of KRPC message, told apart by `y`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind<'a> {
    /// `y: "q"`.
    Query(Query<'a>),
    /// `y: "r"`.
    Response(Response<'a>),
    /// `y: "e"`.
    Error(KrpcError<'a>),
}

/// A query: the querier's id, what it wants, and the method with its arguments (`a`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query<'a> {
    /// The querier's node id (`a.id`).
    pub id: Id,
    /// Which address families the querier wants nodes of (`a.want`, BEP 32).
    pub want: Want,
    /// The method (`q`) and its method-specific arguments.
    pub method: QueryMethod<'a>,
}

/// The BEP 32 `want` list: which families of nodes a querier asks for.
///
/// Both false means the key is absent: answer with the family the query came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Want {
    /// `"n4"`: IPv4 nodes in `nodes`.
    pub n4: bool,
    /// `"n6"`: IPv6 nodes in `nodes6`.
    pub n6: bool,
}

/// A query method and its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryMethod<'a> {
    /// `ping` (BEP 5).
    Ping,
    /// `find_node` (BEP 5): the nodes closest to `target`.
    FindNode {
        /// The id sought.
        target: Id,
    },
    /// `get_peers` (BEP 5): peers of a torrent, or the closest nodes, plus a token.
    GetPeers {
        /// The torrent's info-hash.
        info_hash: Id,
        /// `scrape: 1` (BEP 33): also send the seed and peer bloom filters.
        scrape: bool,
    },
    /// `announce_peer` (BEP 5): the querier is a peer of `info_hash`.
    AnnouncePeer {
        /// The torrent's info-hash.
        info_hash: Id,
        /// The peer's port (`port`); ignored when `implied_port` is set.
        port: u16,
        /// `implied_port: 1`: use the UDP source port instead of `port`.
        implied_port: bool,
        /// The token from an earlier `get_peers` reply.
        token: &'a [u8],
        /// `seed: 1` (BEP 33): the peer has the whole torrent.
        seed: bool,
    },
    /// `get` (BEP 44): a stored item, or the closest nodes, plus a token.
    Get {
        /// SHA-1 of the immutable value, or of `k ‖ salt` for a mutable item.
        target: Id,
        /// Only send the value if the stored sequence number is newer than this.
        seq: Option<i64>,
    },
    /// `put` (BEP 44): store an item.
    Put(PutArgs<'a>),
    /// `sample_infohashes` (BEP 51): a sample of the info-hashes the answerer
    /// stores, plus the closest nodes to `target`.
    SampleInfohashes {
        /// Where the asker is walking the keyspace (for the `nodes`).
        target: Id,
    },
    /// Any other method. Answer 204, or like `find_node` when `target` is known.
    ///
    /// Encoding an `Unknown` whose name is a known method's writes that method, which
    /// then decodes as the known variant.
    Unknown {
        /// The method name (`q`).
        method: &'a [u8],
        /// The argument `target`, else `info_hash`, when present and 20 bytes long.
        target: Option<Id>,
    },
}

impl<'a> QueryMethod<'a> {
    /// The method name as sent in `q`, e.g. `b"get_peers"`.
    pub fn name(&self) -> &'a [u8] {
        match self {
            QueryMethod::Ping => b"ping",
            QueryMethod::FindNode { .. } => b"find_node",
            QueryMethod::GetPeers { .. } => b"get_peers",
            QueryMethod::AnnouncePeer { .. } => b"announce_peer",
            QueryMethod::Get { .. } => b"get",
            QueryMethod::Put(_) => b"put",
            QueryMethod::SampleInfohashes { .. } => b"sample_infohashes",
            QueryMethod::Unknown { method, .. } => method,
        }
    }
}

/// The arguments of a BEP 44 `put`.
///
/// Immutable when `k` and `sig` are absent; mutable otherwise, and then the decoder
/// guarantees that `k`, `sig` and `seq` are all present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutArgs<'a> {
    /// The token from an earlier `get` reply.
    pub token: &'a [u8],
    /// The value: the exact raw bencoding received (what the target and signature
    /// cover). When encoding, it must be one complete bencoded value; it is copied
    /// verbatim (check it with [`validate`](super::bencode::validate)).
    pub v: &'a [u8],
    /// The ed25519 public key of a mutable item.
    pub k: Option<&'a [u8; PUBLIC_KEY_LEN]>,
    /// The salt of a mutable item; any length is decoded, the answerer replies 207
    /// over 64 bytes.
    pub salt: Option<&'a [u8]>,
    /// The sequence number of a mutable item.
    pub seq: Option<i64>,
    /// Compare-and-swap: store only if the current sequence number equals this.
    pub cas: Option<i64>,
    /// The ed25519 signature of a mutable item.
    pub sig: Option<&'a [u8; SIGNATURE_LEN]>,
    /// The non-standard `target` some implementations send (see `PROTOCOL.md`):
    /// include it when sending, ignore it when storing.
    pub target: Option<Id>,
}

impl<'a> PutArgs<'a> {
    /// The arguments of an immutable put: the value `v` (one complete bencoded value)
    /// with the write `token`, nothing else.
    pub fn immutable(token: &'a [u8], v: &'a [u8]) -> PutArgs<'a> {
        PutArgs {
            token,
            v,
            k: None,
            salt: None,
            seq: None,
            cas: None,
            sig: None,
            target: None,
        }
    }
}

/// A response (`r`). Which fields are set depends on the query it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Response<'a> {
    /// The answerer's node id.
    pub id: Id,
    /// IPv4 nodes close to the target (`nodes`, BEP 5).
    pub nodes: Option<CompactNodes<'a>>,
    /// IPv6 nodes close to the target (`nodes6`, BEP 32).
    pub nodes6: Option<CompactNodes<'a>>,
    /// Peers of the torrent (`values`, BEP 5 and 32).
    pub values: Option<CompactPeers<'a>>,
    /// Write token for a later `announce_peer` or `put`.
    pub token: Option<&'a [u8]>,
    /// A BEP 44 value: the exact raw bencoding received.
    pub v: Option<&'a [u8]>,
    /// The public key of a mutable item.
    pub k: Option<&'a [u8; PUBLIC_KEY_LEN]>,
    /// The sequence number of a mutable item.
    pub seq: Option<i64>,
    /// The signature of a mutable item.
    pub sig: Option<&'a [u8; SIGNATURE_LEN]>,
    /// Bloom filter of the seeds' IPs (`BFsd`, BEP 33), in a `get_peers` answer to a
    /// query with `scrape: 1`.
    pub bf_seeds: Option<&'a [u8; BLOOM_LEN]>,
    /// Bloom filter of the other peers' IPs (`BFpe`, BEP 33).
    pub bf_peers: Option<&'a [u8; BLOOM_LEN]>,
    /// Seconds the asker should wait before asking this node for samples again
    /// (`interval`, BEP 51).
    pub interval: Option<i64>,
    /// How many info-hashes the answerer stores in all (`num`, BEP 51).
    pub num: Option<i64>,
    /// A random sample of the info-hashes the answerer stores (`samples`, BEP 51).
    pub samples: Option<Samples<'a>>,
    /// The signed joins of the members a one-hop member list answer names
    /// (`proofs`, a dipsea extension; see [`crate::onehop::JoinProof`]): one
    /// [`crate::onehop::PROOF_LEN`]-byte record per member, in the order of `nodes`
    /// then `nodes6`. Left unchecked here.
    pub proofs: Option<&'a [u8]>,
    /// The digest of each id range of a one-hop member set, 20 bytes each
    /// (`digests`, a dipsea extension, in a `dipsea_digest` answer; see
    /// [`crate::onehop::RANGES`]). Left unchecked here.
    pub digests: Option<&'a [u8]>,
}

impl Response<'_> {
    /// A response carrying only the answerer's id (what `ping`, `announce_peer` and
    /// `put` get); set the other fields as the query needs.
    pub fn new(id: Id) -> Self {
        Response {
            id,
            ..Response::default()
        }
    }
}

/// An error reply (`e: [code, message]`); see [`error_code`](super::error_code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KrpcError<'a> {
    /// The error code.
    pub code: i64,
    /// Human-readable text; may be empty when the sender sent none.
    pub message: &'a [u8],
}

/// Decodes one KRPC datagram.
///
/// Strict on structure (see [`bencode`](super::bencode)) and on the keys each message
/// needs; tolerant of unknown keys, of keys out of order, of a partial `r` beside `e`
/// in error replies and of libtorrent's `p` in responses. Never panics and does not
/// allocate; the message borrows from `buf`.
pub fn decode(buf: &[u8]) -> Result<Message<'_>, DecodeError> {
    // Filled in place: the two argument sets are a few hundred bytes each, and moving
    // them around costs more than reading a small message.
    let mut top = TopFields::default();
    read_top(buf, &mut top)?;
    let kind = match req_bytes(top.y, "y")? {
        b"q" => {
            top.a_is.check("a")?;
            MessageKind::Query(query(req_bytes(top.q, "q")?, &top.a)?)
        }
        b"r" => {
            top.r_is.check("r")?;
            MessageKind::Response(response(&top.r)?)
        }
        b"e" => MessageKind::Error(krpc_error(top.e)?),
        _ => return Err(DecodeError::UnknownMessageType),
    };
    let ip = match opt_bytes(top.ip, "ip")? {
        None => None,
        Some(bytes) => Some(
            read_compact_addr(bytes).ok_or(DecodeError::BadAddressLength {
                key: "ip",
                len: bytes.len(),
            })?,
        ),
    };
    Ok(Message {
        tid: req_bytes(top.t, "t")?,
        version: opt_bytes(top.v, "v")?,
        ip,
        read_only: opt_int(top.ro, "ro")?.is_some_and(|ro| ro != 0),
        network: opt_bytes(top.zn, "zn")?,
        kind,
    })
}

/// Reads the top-level dict of a KRPC datagram into its fields, `a` and `r` among
/// them: strict on structure, tolerant of unknown keys and keys out of order. The one
/// key-reading loop of [`decode`] and of
/// [`decode_broadcast`](super::push::decode_broadcast).
pub(super) fn read_top<'a>(buf: &'a [u8], top: &mut TopFields<'a>) -> Result<(), DecodeError> {
    check_len(buf)?;
    let mut reader = Reader::new(buf);
    if !reader.at_dict() {
        return Err(DecodeError::WrongType {
            key: "message",
            expected: "a dict",
        });
    }
    let mut dict = reader.begin_dict(1)?;
    while let Some(key) = reader.next_key(&mut dict)? {
        let slot = match key {
            b"t" => &mut top.t,
            b"y" => &mut top.y,
            b"q" => &mut top.q,
            b"e" => &mut top.e,
            b"v" => &mut top.v,
            b"ip" => &mut top.ip,
            b"ro" => &mut top.ro,
            b"zn" => &mut top.zn,
            b"a" => {
                top.a_is = top.a.read_section(&mut reader, 2)?;
                continue;
            }
            b"r" => {
                top.r_is = top.r.read_section(&mut reader, 2)?;
                continue;
            }
            _ => {
                reader.skip_value(2)?;
                continue;
            }
        };
        reader.value_into(2, slot)?;
    }
    reader.finish()
}

/// The transaction id of `buf` if it is a well-formed bencoded dict with `y: "q"` and a
/// byte-string `t`, even when the query itself is malformed (missing `a`, bad id...).
///
/// Lets the answerer reply error 203 to a query [`decode`] rejected. `None` for
/// anything else, which should be dropped silently.
pub fn query_tid(buf: &[u8]) -> Option<&[u8]> {
    check_len(buf).ok()?;
    let mut reader = Reader::new(buf);
    let mut dict = reader.begin_dict(1).ok()?;
    let (mut t, mut y) = (None, None);
    while let Some(key) = reader.next_key(&mut dict).ok()? {
        match key {
            b"t" => t = Some(reader.value(2).ok()?),
            b"y" => y = Some(reader.value(2).ok()?),
            _ => {
                reader.skip_value(2).ok()?;
            }
        }
    }
    reader.finish().ok()?;
    match (t, y) {
        (Some(Value::Bytes(tid)), Some(Value::Bytes(b"q"))) => Some(tid),
        _ => None,
    }
}

/// The top-level keys the decoder keeps, typed once `y` is known.
#[derive(Default)]
pub(super) struct TopFields<'a> {
    pub(super) t: Option<Value<'a>>,
    pub(super) y: Option<Value<'a>>,
    pub(super) q: Option<Value<'a>>,
    pub(super) e: Option<Value<'a>>,
    pub(super) v: Option<Value<'a>>,
    pub(super) ip: Option<Value<'a>>,
    pub(super) ro: Option<Value<'a>>,
    pub(super) zn: Option<Value<'a>>,
    pub(super) a_is: Presence,
    pub(super) a: Fields<'a>,
    pub(super) r_is: Presence,
    pub(super) r: Fields<'a>,
}

/// Whether the message had an `a` (or `r`) key, and whether it held a dict.
#[derive(Default, Clone, Copy)]
pub(super) enum Presence {
    #[default]
    Absent,
    Dict,
    Other,
}

impl Presence {
    /// Fails unless the key was present and a dict.
    pub(super) fn check(self, key: &'static str) -> Result<(), DecodeError> {
        match self {
            Presence::Dict => Ok(()),
            Presence::Absent => Err(DecodeError::MissingKey(key)),
            Presence::Other => Err(DecodeError::WrongType {
                key,
                expected: "a dict",
            }),
        }
    }
}

/// The argument and response keys the decoder knows, typed once `y` is known (so a
/// stray `a` in a response cannot fail it). One struct serves both, as their key sets
/// overlap (`id`, `token`, `v`, `k`, `seq`, `sig`).
#[derive(Default)]
pub(super) struct Fields<'a> {
    pub(super) id: Option<Value<'a>>,
    pub(super) target: Option<Value<'a>>,
    pub(super) info_hash: Option<Value<'a>>,
    pub(super) port: Option<Value<'a>>,
    pub(super) implied_port: Option<Value<'a>>,
    pub(super) scrape: Option<Value<'a>>,
    pub(super) seed: Option<Value<'a>>,
    pub(super) token: Option<Value<'a>>,
    /// Raw bytes of `v`, whatever its type.
    pub(super) v: Option<&'a [u8]>,
    pub(super) k: Option<Value<'a>>,
    pub(super) salt: Option<Value<'a>>,
    pub(super) seq: Option<Value<'a>>,
    pub(super) cas: Option<Value<'a>>,
    pub(super) sig: Option<Value<'a>>,
    pub(super) want: Option<Value<'a>>,
    pub(super) nodes: Option<Value<'a>>,
    pub(super) nodes6: Option<Value<'a>>,
    pub(super) bf_seeds: Option<Value<'a>>,
    pub(super) bf_peers: Option<Value<'a>>,
    pub(super) interval: Option<Value<'a>>,
    pub(super) num: Option<Value<'a>>,
    pub(super) samples: Option<Value<'a>>,
    pub(super) proofs: Option<Value<'a>>,
    pub(super) digests: Option<Value<'a>>,
    /// `h`, `n` and `r`: a broadcast's height, prefix length and rescue flag
    /// ([`super::push`]).
    pub(super) h: Option<Value<'a>>,
    pub(super) n: Option<Value<'a>>,
    pub(super) r: Option<Value<'a>>,
    /// Checked while read, to walk the list once; an error only matters in a response.
    pub(super) values: Option<Result<CompactPeers<'a>, DecodeError>>,
}

impl<'a> Fields<'a> {
    /// Reads the value of `a` or `r`, at nesting `depth`, into `self` if it is a dict.
    fn read_section(
        &mut self,
        reader: &mut Reader<'a>,
        depth: usize,
    ) -> Result<Presence, DecodeError> {
        if !reader.at_dict() {
            reader.skip_value(depth)?;
            return Ok(Presence::Other);
        }
        // A repeated key is rejected by the reader, so `self` is still empty here.
        let mut dict = reader.begin_dict(depth)?;
        let inner = depth + 1;
        while let Some(key) = reader.next_key(&mut dict)? {
            let slot = match key {
                b"id" => &mut self.id,
                b"target" => &mut self.target,
                b"info_hash" => &mut self.info_hash,
                b"port" => &mut self.port,
                b"implied_port" => &mut self.implied_port,
                b"scrape" => &mut self.scrape,
                b"seed" => &mut self.seed,
                b"token" => &mut self.token,
                b"k" => &mut self.k,
                b"salt" => &mut self.salt,
                b"seq" => &mut self.seq,
                b"cas" => &mut self.cas,
                b"sig" => &mut self.sig,
                b"want" => &mut self.want,
                b"nodes" => &mut self.nodes,
                b"nodes6" => &mut self.nodes6,
                b"BFsd" => &mut self.bf_seeds,
                b"BFpe" => &mut self.bf_peers,
                b"interval" => &mut self.interval,
                b"num" => &mut self.num,
                b"samples" => &mut self.samples,
                b"proofs" => &mut self.proofs,
                b"digests" => &mut self.digests,
                b"h" => &mut self.h,
                b"n" => &mut self.n,
                b"r" => &mut self.r,
                b"v" => {
                    self.v = Some(reader.skip_value(inner)?);
                    continue;
                }
                b"values" => {
                    self.values = Some(read_peers(reader, inner)?);
                    continue;
                }
                _ => {
                    reader.skip_value(inner)?;
                    continue;
                }
            };
            reader.value_into(inner, slot)?;
        }
        Ok(Presence::Dict)
    }
}

fn query<'a>(method: &'a [u8], a: &Fields<'a>) -> Result<Query<'a>, DecodeError> {
    let id = req_id(a.id, "id")?;
    let want = want(a.want)?;
    let method = match method {
        b"ping" => QueryMethod::Ping,
        b"find_node" => QueryMethod::FindNode {
            target: req_id(a.target, "target")?,
        },
        b"get_peers" => QueryMethod::GetPeers {
            info_hash: req_id(a.info_hash, "info_hash")?,
            scrape: opt_int(a.scrape, "scrape")?.is_some_and(|s| s != 0),
        },
        b"sample_infohashes" => QueryMethod::SampleInfohashes {
            target: req_id(a.target, "target")?,
        },
        b"announce_peer" => {
            let implied_port = opt_int(a.implied_port, "implied_port")?.is_some_and(|p| p != 0);
            // With implied_port the port is unused; tolerate its absence then.
            let port = match opt_int(a.port, "port")? {
                None if implied_port => 0,
                None => return Err(DecodeError::MissingKey("port")),
                Some(port) => u16::try_from(port).map_err(|_| DecodeError::BadPort(port))?,
            };
            QueryMethod::AnnouncePeer {
                info_hash: req_id(a.info_hash, "info_hash")?,
                port,
                implied_port,
                token: req_token(a.token)?,
                seed: opt_int(a.seed, "seed")?.is_some_and(|s| s != 0),
            }
        }
        b"get" => QueryMethod::Get {
            target: req_id(a.target, "target")?,
            seq: opt_int(a.seq, "seq")?,
        },
        b"put" => {
            let args = PutArgs {
                token: req_token(a.token)?,
                v: a.v.ok_or(DecodeError::MissingKey("v"))?,
                k: opt_array(a.k, "k")?,
                salt: opt_bytes(a.salt, "salt")?,
                seq: opt_int(a.seq, "seq")?,
                cas: opt_int(a.cas, "cas")?,
                sig: opt_array(a.sig, "sig")?,
                target: opt_id(a.target, "target")?,
            };
            // BEP 44: a mutable put carries k, seq and sig together.
            if args.k.is_some() || args.sig.is_some() {
                let missing = if args.k.is_none() {
                    Some("k")
                } else if args.sig.is_none() {
                    Some("sig")
                } else if args.seq.is_none() {
                    Some("seq")
                } else {
                    None
                };
                if let Some(missing) = missing {
                    return Err(DecodeError::IncompleteMutablePut { missing });
                }
            }
            QueryMethod::Put(args)
        }
        _ => {
            // Tolerant: a malformed target of an unknown method only loses the hint.
            let id20 = |v: Option<Value<'a>>| match v {
                Some(Value::Bytes(b)) => Id::from_slice(b).ok(),
                _ => None,
            };
            QueryMethod::Unknown {
                method,
                target: id20(a.target).or_else(|| id20(a.info_hash)),
            }
        }
    };
    Ok(Query { id, want, method })
}

fn response<'a>(r: &Fields<'a>) -> Result<Response<'a>, DecodeError> {
    let nodes = |v, key, family| -> Result<_, DecodeError> {
        opt_bytes(v, key)?
            .map(|b| CompactNodes::from_bytes(b, family))
            .transpose()
    };
    Ok(Response {
        id: req_id(r.id, "id")?,
        nodes: nodes(r.nodes, "nodes", AddrFamily::V4)?,
        nodes6: nodes(r.nodes6, "nodes6", AddrFamily::V6)?,
        values: r.values.transpose()?,
        token: r.token.map(|t| req_token(Some(t))).transpose()?,
        v: r.v,
        k: opt_array(r.k, "k")?,
        seq: opt_int(r.seq, "seq")?,
        sig: opt_array(r.sig, "sig")?,
        bf_seeds: opt_array(r.bf_seeds, "BFsd")?,
        bf_peers: opt_array(r.bf_peers, "BFpe")?,
        interval: opt_int(r.interval, "interval")?,
        num: opt_int(r.num, "num")?,
        samples: opt_bytes(r.samples, "samples")?
            .map(Samples::from_bytes)
            .transpose()?,
        proofs: opt_bytes(r.proofs, "proofs")?,
        digests: opt_bytes(r.digests, "digests")?,
    })
}

/// Reads `e: [code, message, ...]`: the code is required, a missing message reads
/// as empty, extra items are ignored.
fn krpc_error(e: Option<Value<'_>>) -> Result<KrpcError<'_>, DecodeError> {
    let wrong = DecodeError::WrongType {
        key: "e",
        expected: "a list of an integer code and a message",
    };
    let raw = match e {
        None => return Err(DecodeError::MissingKey("e")),
        Some(Value::List(raw)) => raw,
        Some(_) => return Err(wrong),
    };
    // `raw` is a validated list; read its first two items.
    let mut reader = Reader::new(raw);
    reader.begin_list(1)?;
    if !reader.list_has_next()? {
        return Err(wrong);
    }
    let Value::Int(code) = reader.value(2)? else {
        return Err(wrong);
    };
    let message = if reader.list_has_next()? {
        match reader.value(2)? {
            Value::Bytes(message) => message,
            _ => return Err(wrong),
        }
    } else {
        b""
    };
    Ok(KrpcError { code, message })
}

/// Reads BEP 32 `want`: a list in which `"n4"` and `"n6"` count and anything else is
/// ignored.
fn want(v: Option<Value<'_>>) -> Result<Want, DecodeError> {
    let raw = match v {
        None => return Ok(Want::default()),
        Some(Value::List(raw)) => raw,
        Some(_) => {
            return Err(DecodeError::WrongType {
                key: "want",
                expected: "a list",
            })
        }
    };
    let mut want = Want::default();
    let mut reader = Reader::new(raw);
    reader.begin_list(1)?;
    while reader.list_has_next()? {
        match reader.value(2)? {
            Value::Bytes(b"n4") => want.n4 = true,
            Value::Bytes(b"n6") => want.n6 = true,
            _ => {}
        }
    }
    Ok(want)
}

pub(super) fn opt_bytes<'a>(
    v: Option<Value<'a>>,
    key: &'static str,
) -> Result<Option<&'a [u8]>, DecodeError> {
    match v {
        None => Ok(None),
        Some(Value::Bytes(b)) => Ok(Some(b)),
        Some(_) => Err(DecodeError::WrongType {
            key,
            expected: "a byte string",
        }),
    }
}

pub(super) fn req_bytes<'a>(
    v: Option<Value<'a>>,
    key: &'static str,
) -> Result<&'a [u8], DecodeError> {
    opt_bytes(v, key)?.ok_or(DecodeError::MissingKey(key))
}

pub(super) fn opt_int(v: Option<Value<'_>>, key: &'static str) -> Result<Option<i64>, DecodeError> {
    match v {
        None => Ok(None),
        Some(Value::Int(n)) => Ok(Some(n)),
        Some(_) => Err(DecodeError::WrongType {
            key,
            expected: "an integer",
        }),
    }
}

fn opt_id(v: Option<Value<'_>>, key: &'static str) -> Result<Option<Id>, DecodeError> {
    opt_bytes(v, key)?
        .map(|b| Id::from_slice(b).map_err(|_| DecodeError::BadIdLength { key, len: b.len() }))
        .transpose()
}

pub(super) fn req_id(v: Option<Value<'_>>, key: &'static str) -> Result<Id, DecodeError> {
    opt_id(v, key)?.ok_or(DecodeError::MissingKey(key))
}

fn req_token(v: Option<Value<'_>>) -> Result<&[u8], DecodeError> {
    let token = req_bytes(v, "token")?;
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(DecodeError::BadTokenLength(token.len()));
    }
    Ok(token)
}

/// A fixed-size byte string: `k` (32 bytes) or `sig` (64 bytes).
/// A required integer.
pub(super) fn req_int(v: Option<Value<'_>>, key: &'static str) -> Result<i64, DecodeError> {
    opt_int(v, key)?.ok_or(DecodeError::MissingKey(key))
}

/// A required byte string of exactly `N` bytes.
pub(super) fn req_array<'a, const N: usize>(
    v: Option<Value<'a>>,
    key: &'static str,
) -> Result<&'a [u8; N], DecodeError> {
    opt_array(v, key)?.ok_or(DecodeError::MissingKey(key))
}

pub(super) fn opt_array<'a, const N: usize>(
    v: Option<Value<'a>>,
    key: &'static str,
) -> Result<Option<&'a [u8; N]>, DecodeError> {
    opt_bytes(v, key)?
        .map(|b| {
            <&[u8; N]>::try_from(b).map_err(|_| DecodeError::BadSize {
                key,
                expected: N,
                len: b.len(),
            })
        })
        .transpose()
}

impl Message<'_> {
    /// Appends the bencoding of the message to `out`, keys in sorted order as bencode
    /// requires. Does not allocate beyond growing `out`: reuse one buffer.
    ///
    /// Raw fields (`PutArgs::v`, `Response::v`) are copied verbatim and must hold one
    /// complete bencoded value.
    pub fn encode(&self, out: &mut Vec<u8>) {
        // Keys are written as constant prefixes (`1:t`, `2:id20:`...), which is
        // several times faster than formatting each length.
        out.push(b'd');
        match &self.kind {
            MessageKind::Query(q) => {
                out.extend_from_slice(b"1:a");
                q.encode_args(out);
            }
            MessageKind::Error(e) => {
                out.extend_from_slice(b"1:el");
                write_int(out, e.code);
                write_bytes(out, e.message);
                out.push(b'e');
            }
            MessageKind::Response(_) => {}
        }
        if let Some(ip) = &self.ip {
            out.extend_from_slice(match ip {
                SocketAddr::V4(_) => b"2:ip6:".as_slice(),
                SocketAddr::V6(_) => b"2:ip18:".as_slice(),
            });
            write_compact_addr(ip, out);
        }
        match &self.kind {
            MessageKind::Query(q) => {
                out.extend_from_slice(b"1:q");
                write_bytes(out, q.method.name());
            }
            MessageKind::Response(r) => {
                out.extend_from_slice(b"1:r");
                r.encode(out);
            }
            MessageKind::Error(_) => {}
        }
        if self.read_only {
            out.extend_from_slice(b"2:roi1e");
        }
        out.extend_from_slice(b"1:t");
        write_bytes(out, self.tid);
        if let Some(version) = self.version {
            out.extend_from_slice(b"1:v");
            write_bytes(out, version);
        }
        out.extend_from_slice(match self.kind {
            MessageKind::Query(_) => b"1:y1:q",
            MessageKind::Response(_) => b"1:y1:r",
            MessageKind::Error(_) => b"1:y1:e",
        });
        if let Some(network) = self.network {
            out.extend_from_slice(b"2:zn");
            write_bytes(out, network);
        }
        out.push(b'e');
    }
}

/// Appends `key` (already bencoded, e.g. `b"2:id20:"` with the value's length prefix)
/// and a fixed-size value.
fn fixed(out: &mut Vec<u8>, key_and_len: &[u8], value: &[u8]) {
    out.extend_from_slice(key_and_len);
    out.extend_from_slice(value);
}

/// Appends `key` (already bencoded) and `value` as a byte string.
fn pair(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.extend_from_slice(key);
    write_bytes(out, value);
}

/// Appends `key` (already bencoded) and `value` as an integer.
fn int_pair(out: &mut Vec<u8>, key: &[u8], value: i64) {
    out.extend_from_slice(key);
    write_int(out, value);
}

impl Query<'_> {
    /// Appends the `a` dict; keys in sorted order: cas, id, implied_port, info_hash, k,
    /// port, salt, scrape, seed, seq, sig, target, token, v, want.
    fn encode_args(&self, out: &mut Vec<u8>) {
        out.push(b'd');
        if let QueryMethod::Put(PutArgs { cas: Some(cas), .. }) = self.method {
            int_pair(out, b"3:cas", cas);
        }
        fixed(out, b"2:id20:", self.id.as_bytes());
        match self.method {
            QueryMethod::Ping => {}
            QueryMethod::FindNode { target } => fixed(out, b"6:target20:", target.as_bytes()),
            QueryMethod::GetPeers { info_hash, scrape } => {
                fixed(out, b"9:info_hash20:", info_hash.as_bytes());
                if scrape {
                    out.extend_from_slice(b"6:scrapei1e");
                }
            }
            QueryMethod::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
                seed,
            } => {
                if implied_port {
                    out.extend_from_slice(b"12:implied_porti1e");
                }
                fixed(out, b"9:info_hash20:", info_hash.as_bytes());
                int_pair(out, b"4:port", i64::from(port));
                if seed {
                    out.extend_from_slice(b"4:seedi1e");
                }
                pair(out, b"5:token", token);
            }
            QueryMethod::SampleInfohashes { target } => {
                fixed(out, b"6:target20:", target.as_bytes())
            }
            QueryMethod::Get { target, seq } => {
                if let Some(seq) = seq {
                    int_pair(out, b"3:seq", seq);
                }
                fixed(out, b"6:target20:", target.as_bytes());
            }
            QueryMethod::Put(p) => {
                if let Some(k) = p.k {
                    fixed(out, b"1:k32:", k);
                }
                if let Some(salt) = p.salt {
                    pair(out, b"4:salt", salt);
                }
                if let Some(seq) = p.seq {
                    int_pair(out, b"3:seq", seq);
                }
                if let Some(sig) = p.sig {
                    fixed(out, b"3:sig64:", sig);
                }
                if let Some(target) = p.target {
                    fixed(out, b"6:target20:", target.as_bytes());
                }
                pair(out, b"5:token", p.token);
                fixed(out, b"1:v", p.v);
            }
            QueryMethod::Unknown { target, .. } => {
                if let Some(target) = target {
                    fixed(out, b"6:target20:", target.as_bytes());
                }
            }
        }
        match (self.want.n4, self.want.n6) {
            (false, false) => {}
            (true, false) => out.extend_from_slice(b"4:wantl2:n4e"),
            (false, true) => out.extend_from_slice(b"4:wantl2:n6e"),
            (true, true) => out.extend_from_slice(b"4:wantl2:n42:n6e"),
        }
        out.push(b'e');
    }
}

impl Response<'_> {
    /// Appends the `r` dict; keys in sorted order (upper case first): BFpe, BFsd,
    /// digests, id,
    /// interval, k, nodes, nodes6, num, proofs, samples, seq, sig, token, v, values.
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(b'd');
        if let Some(bf_peers) = self.bf_peers {
            fixed(out, b"4:BFpe256:", bf_peers);
        }
        if let Some(bf_seeds) = self.bf_seeds {
            fixed(out, b"4:BFsd256:", bf_seeds);
        }
        if let Some(digests) = self.digests {
            pair(out, b"7:digests", digests);
        }
        fixed(out, b"2:id20:", self.id.as_bytes());
        if let Some(interval) = self.interval {
            int_pair(out, b"8:interval", interval);
        }
        if let Some(k) = self.k {
            fixed(out, b"1:k32:", k);
        }
        if let Some(nodes) = &self.nodes {
            encode_nodes(out, b"5:nodes", nodes);
        }
        if let Some(nodes6) = &self.nodes6 {
            encode_nodes(out, b"6:nodes6", nodes6);
        }
        if let Some(num) = self.num {
            int_pair(out, b"3:num", num);
        }
        if let Some(proofs) = self.proofs {
            pair(out, b"6:proofs", proofs);
        }
        if let Some(samples) = &self.samples {
            pair(out, b"7:samples", samples.as_bytes());
        }
        if let Some(seq) = self.seq {
            int_pair(out, b"3:seq", seq);
        }
        if let Some(sig) = self.sig {
            fixed(out, b"3:sig64:", sig);
        }
        if let Some(token) = self.token {
            pair(out, b"5:token", token);
        }
        if let Some(v) = self.v {
            fixed(out, b"1:v", v);
        }
        if let Some(values) = &self.values {
            out.extend_from_slice(b"6:values");
            values.encode(out);
        }
        out.push(b'e');
    }
}
